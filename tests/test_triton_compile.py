"""Compile-only check of the Triton backend's kernels for real GPUs, on a machine without one.

Every kernel at the specializations the models use (K=32, V=64; bf16, fp16, fp32; whole sequence
and segmented, V whole and V split) is compiled to a cubin for sm_90 and sm_80 by ``triton.compile`` in a subprocess
without TRITON_INTERPRET (compile-only fails inside an interpreter process) and with a fresh
TRITON_CACHE_DIR (a warm cache once hid a failure). One subprocess per arch, run in parallel.
"""
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")


def test_triton_kernels_compile_for_sm90_and_sm80(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    procs = {}
    for arch in ("90", "80"):
        e = dict(env, TRITON_CACHE_DIR=str(tmp_path / f"cache{arch}"))
        procs[arch] = subprocess.Popen(
            [sys.executable, "-m", "vig_kernels.triton.compile_check", arch],
            env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report = []
    for arch, p in procs.items():
        out, _ = p.communicate(timeout=1200)
        report.append((arch, p.returncode, out))
    msg = "\n".join(f"--- sm_{a} (rc {rc})\n{out}" for a, rc, out in report)
    assert all(rc == 0 for _, rc, _ in report), msg
    from vig_kernels.triton.compile_check import _specs

    for arch, _, out in report:
        # 3 dtypes x (fwd, the default backward's kernels, fwd segment states, bwd segment
        # states) + the segment scan (+ the carry prefix with v2.6's segment kernels): 14
        assert out.count("ok   ") == len(_specs()), msg
        if arch == "90":
            assert "bf16" in out and "mma" in out, msg


@pytest.mark.parametrize("K,V,dtype,regime,L", [(64, 128, "float32", "mixed", 40),
                                                  (48, 80, "bfloat16", "neg_inf", 20)])
def test_head_dims_beyond_one_tile_run_as_blocks(K, V, dtype, regime, L):
    """Heads wider than the kernels' one tile (BK = 32, BV = 64) run as float32 tile pairs cut
    and summed by the shared layer (KernelBackend.max_tile, vig/ops.py). The shared suite draws
    such heads on the GPU only (the CPU strategy keeps K, V <= 32), so the tiled path is
    checked here, in the interpreter on a machine without a GPU."""
    import torch
    import vig
    from vig_kernels.triton import BK, BV

    from .parity import assert_parity, oracle, plain_pytorch, run_with_grads
    from .strategies import Case, make_inputs

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    assert K > BK and V > BV
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    case = Case(B=1, L=L, H=2, K=K, V=V, dtype=dtype, regime=regime, layout="fused",
                gate_dtype="float32", seed=K + V)
    q, k, v, gf, gb, do = make_inputs(case, dev)
    got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="triton"), (q, k, v, gf, gb), do)
    assert got[0].dtype == v.dtype
    assert_parity(got, oracle((q, k, v, gf, gb), do), plain_pytorch((q, k, v, gf, gb), do), q.dtype,
                  context=f"[triton blocks: {case}]")


def test_v26_segment_kernels_compile_for_sm90(tmp_path):
    """The v2.6 segment kernels (VIG_TRITON_BSEG=v26, the default since v2.6; the opt-in
    VIG_TRITON_FSCAN and VIG_TRITON_FPIPE; NOTES.md v2.6) compile for sm_90: the two-state backward segment kernel, the forward kernel
    with the pipelined and the scanned segment assembly (three dtypes each), the backward scan,
    carry and forward scan kernels."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache90")
    r = subprocess.run([sys.executable, "-m", "vig_kernels.triton.compile_check", "--v26", "90"],
                       env=env, capture_output=True, text=True, timeout=1200)
    from vig_kernels.triton.compile_check import _v26_specs

    assert r.returncode == 0 and r.stdout.count("ok   ") == len(_v26_specs()), r.stdout + r.stderr


@pytest.mark.parametrize("knobs", [{"VIG_TRITON_BSEG": "v26", "VIG_TRITON_FSCAN": "1"},
                                   {"VIG_TRITON_BSEG": "v26", "VIG_TRITON_FPIPE": "3"}])
def test_v26_segmented_path(knobs, monkeypatch):
    """The v2.6 segment machinery against the float64 oracle, in the interpreter (which cuts
    every sequence into 3 segments) or on a GPU with segments forced (VIG_TRITON_SEGMENT=3,
    VIG_TRITON_SEG_MIN_L=16); gates with -inf and strong entries so the carries matter."""
    import torch
    import vig
    from vig_kernels import triton as tb

    from .parity import assert_parity, oracle, plain_pytorch, run_with_grads
    from .strategies import Case, make_inputs

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    for key, val in {**knobs, "VIG_TRITON_SEGMENT": "3", "VIG_TRITON_SEG_MIN_L": "16"}.items():
        monkeypatch.setenv(key, val)
    tb.reload_knobs()
    try:
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        case = Case(B=1, L=130, H=2, K=32, V=64, dtype="bfloat16", regime="neg_inf", layout="fused",
                    gate_dtype="float32", seed=5)
        q, k, v, gf, gb, do = make_inputs(case, dev)
        got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="triton"),
                             (q, k, v, gf, gb), do)
        assert_parity(got, oracle((q, k, v, gf, gb), do), plain_pytorch((q, k, v, gf, gb), do),
                      q.dtype, context=f"[triton v2.6 {knobs}: {case}]")
    finally:
        monkeypatch.undo()
        tb.reload_knobs()
