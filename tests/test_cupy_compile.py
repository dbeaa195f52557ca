"""CPU checks of the CuPy backend: every CUDA source compiles (nvcc -cubin, no device needed) for
sm_90 and sm_80 at every specialization the models use, in the form NVRTC sees at run time;
and the backend imports without a GPU, reporting itself unavailable with a reason."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
import torch

NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else None)


def _specs():
    import torch as _t

    from vig_kernels.cupy import _bwd_wide, _fwd_wide, _kp, _vp

    K, V = 32, 64  # every ViG size
    kp = _kp(K)
    specs = set()
    for dtype, code in ((_t.float32, 0), (_t.float16, 1), (_t.bfloat16, 2)):
        for BH in (24, 48, 384, 768, 1536, 6):  # benchmark shapes plus a tiny batch
            specs.add(("bigla_fwd.cu", kp, _vp(kp, V, BH, _fwd_wide(kp, dtype)), code))
            specs.add(("bigla_bwd.cu", kp, _vp(kp, V, BH, _bwd_wide(kp)), code))
    return [(src, kp, vp, code, arch) for src, kp, vp, code in sorted(specs)
            for arch in ("sm_90", "sm_80")]


@pytest.mark.skipif(NVCC is None, reason="nvcc not found on PATH")
@pytest.mark.parametrize("src,kp,vp,dtype,arch", _specs())
def test_cuda_source_compiles(src, kp, vp, dtype, arch):
    from vig_kernels.cupy import TILE, kernel_source

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, src)
        with open(path, "w") as f:
            f.write(kernel_source(src))  # header inlined, as handed to NVRTC
        cmd = [NVCC, f"-arch={arch}", "-cubin", "-std=c++17", f"-DDTYPE={dtype}", f"-DKP={kp}",
               f"-DVP={vp}", f"-DTT={TILE}", "-Xptxas", "-v",
               "-o", os.path.join(d, "k.cubin"), path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
        assert "error" not in r.stderr.lower()
        # No register spills / local-memory arrays in the specializations the models use.
        assert "bytes stack frame" in r.stderr
        for line in r.stderr.splitlines():
            if "stack frame" in line:
                assert line.strip().startswith("0 bytes stack frame"), line
        assert os.path.getsize(os.path.join(d, "k.cubin")) > 0


def test_import_without_gpu_reports_reason():
    import vig_kernels.cupy as m

    be = m.CuPyBackend()
    assert be.name == "cupy"
    assert be.device_types == ("cuda",)
    reasons = be.not_supported_reasons()
    assert isinstance(reasons, list)
    if not torch.cuda.is_available():
        assert reasons and all(isinstance(r, str) and r for r in reasons)
