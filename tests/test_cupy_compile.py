"""CPU checks of the CuPy backend: every CUDA source compiles (nvcc -cubin, no device needed) for
sm_90 and sm_80 at every specialization the models use (and the chunked forward at other head
sizes), in the form NVRTC sees at run time; the chunked forward's launch plan; and the backend
imports without a GPU, reporting itself unavailable with a reason."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
import torch

SPILL_OK = {"bigla_tc_bwd"}
NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else None)


def _specs():
    import torch as _t

    from vig_kernels.cupy import TILE, _bwd_wide, _fwd_wide, _kp, _vp, tc_kt

    K, V = 32, 64  # every ViG size
    kp = _kp(K)
    specs = set()
    for dtype, code in ((_t.float32, 0), (_t.float16, 1), (_t.bfloat16, 2)):
        for BH in (24, 48, 384, 768, 1536, 6):  # benchmark shapes plus a tiny batch
            for src, vp in (("bigla_fwd.cu", _vp(kp, V, BH, _fwd_wide(kp, dtype))),
                            ("bigla_bwd.cu", _vp(kp, V, BH, _bwd_wide(kp)))):
                specs.add((src, (("DTYPE", code), ("KP", kp), ("VP", vp), ("TT", TILE)), True))
        if code:  # the chunked tensor-core forward (fp16 / bf16): the models' K, then others
            for k, strict in ((K, True), (16, False), (64, False), (128, False)):
                for vec in (1, 0):  # 16-byte loads (the models' aligned views) or scalar
                    specs.add(("bigla_tc.cu", (("DTYPE", code), ("KT", tc_kt(k)), ("VEC", vec)),
                               strict))
            # the v2.6 forward tiles (VIG_CUPY_FWD=v26: token-major V / Ki, ldmatrix.trans, 16-byte
            # output stores) at the models' K and the largest K
            for k in (K, 128):
                for vec in (1, 0):
                    specs.add(("bigla_tc.cu", (("DTYPE", code), ("KT", tc_kt(k)), ("VEC", vec),
                                               ("FWL", 1)), k == K))
            # the v2.4 / v2.5 chunked backwards (VIG_CUPY_BWD=v24 / v25): K <= 32, 16-byte rows
            for k in (K, 16):
                for bw4 in (1, 2, 3, 4):  # v24, v25, v26, v26p
                    specs.add(("bigla_tc.cu", (("DTYPE", code), ("KT", tc_kt(k)), ("VEC", 1),
                                               ("BW4", bw4)), k == K))
    # The chunked kernel is capped at 128 registers (2 blocks of 256 threads per SM); on sm_80
    # ptxas spills 40 bytes at that cap: only sm_90 (the H100, where it is tuned) must not spill.
    return [(src, defs, strict and (arch == "sm_90" or src != "bigla_tc.cu"), arch)
            for src, defs, strict in sorted(specs) for arch in ("sm_90", "sm_80")]


@pytest.mark.skipif(NVCC is None, reason="nvcc not found on PATH")
@pytest.mark.parametrize("src,defines,no_spill,arch", _specs())
def test_cuda_source_compiles(src, defines, no_spill, arch):
    from vig_kernels.cupy import kernel_source

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, src)
        with open(path, "w") as f:
            f.write(kernel_source(src))  # header inlined, as handed to NVRTC
        cmd = [NVCC, f"-arch={arch}", "-cubin", "-std=c++17",
               *(f"-D{n}={v}" for n, v in defines), "-Xptxas", "-v",
               "-o", os.path.join(d, "k.cubin"), path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
        assert "error" not in r.stderr.lower()
        assert "bytes stack frame" in r.stderr
        if no_spill:
            # No register spills / local-memory arrays in the specializations the models use
            # (except the chunked backward, which spills ~100 bytes at its 128-register cap).
            func = None
            for line in r.stderr.splitlines():
                if "Compiling entry function" in line:
                    func = line.split("'")[1]
                if "stack frame" in line and func not in SPILL_OK:
                    assert line.strip().startswith("0 bytes stack frame"), (func, line)
        assert os.path.getsize(os.path.join(d, "k.cubin")) > 0


def test_chunked_plan_and_smem_formula():
    """The launch plan covers every token once, and the shared-memory size the launcher asks for
    matches the kernel's struct (the kernel also traps on a mismatch at run time)."""
    import vig_kernels.cupy as m

    for B, H, L, V in ((128, 3, 196, 64), (8, 3, 4096, 64), (2, 3, 65, 64), (1, 1, 1, 16),
                       (1, 1, 300, 128), (2, 3, 4096, 80)):
        nvb, seglen, nseg = m.tc_plan(B, H, L, V)
        assert nvb * m.TC_VB >= V and (nseg - 1) * seglen < L <= nseg * seglen
        assert seglen <= m.TC_MAX_SEG and (nseg == 1 or seglen % m.TC_CHUNK == 0)
    assert m.tc_dir_smem(2, False) == 18448  # sizeof(DirSmem) at K = 32 (checked by the emulator)
    assert m.tc_dir_smem(2, True) == 17424  # the v2.6 layout (VIG_CUPY_FWD=v26)
    assert [m.tc_kt(k) for k in (1, 16, 17, 32, 48, 64, 100, 128)] == [1, 1, 2, 2, 4, 4, 8, 8]
    assert m.tc_bwd_smem(2, 2) == 40528  # sizeof(BwdSmem) at K = 32 (checked by the emulator)
    assert m.tc_bwd_smem(2, 3) == m.tc_bwd_smem(2, 4) == 34896  # v2.6 (host sizeof, g++)
    assert m.tc_bwd_smem(1, 3) == 21712 and m.tc_dir_smem(1, True) == 11152
    assert m.fwd_kind(torch.float32) == "recurrent"
    x = torch.zeros(1, 8, 1, 32)
    assert m.bwd_kind(x, torch.zeros(1, 8, 1, 64), torch.zeros(1, 8, 1, 64)) == "recurrent"  # fp32
    y = torch.zeros(1, 8, 1, 32, dtype=torch.bfloat16)
    yv = torch.zeros(1, 8, 1, 64, dtype=torch.bfloat16)
    saved = os.environ.get("VIG_CUPY_BWD")
    try:
        for kind in m.BWD_KINDS:  # v24 is the chunked family with the BW4 kernel
            os.environ["VIG_CUPY_BWD"] = kind
            m.reload_env()  # the switches are read once
            assert m.bwd_kind(y, yv, yv) == ("recurrent" if kind == "recurrent" else "chunked")
            assert m.bwd_kind(y, yv, yv, y) == ("recurrent" if kind == "recurrent" else "chunked")
    finally:
        if saved is None:
            os.environ.pop("VIG_CUPY_BWD", None)
        else:
            os.environ["VIG_CUPY_BWD"] = saved
        m.reload_env()
    assert m.bwd_variant() == m.BWD_DEFAULT or saved is not None


def test_import_without_gpu_reports_reason():
    import vig_kernels.cupy as m

    be = m.CuPyBackend()
    assert be.name == "cupy"
    assert be.device_types == ("cuda",)
    reasons = be.not_supported_reasons()
    assert isinstance(reasons, list)
    if not torch.cuda.is_available():
        assert reasons and all(isinstance(r, str) and r for r in reasons)
