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
    for arch, _, out in report:
        # 3 dtypes x (fwd, fwd V-split, fwd segment states, bwd, bwd segmented, bwd segment
        # states) + the segment scan
        assert out.count("ok   ") == 19, msg
        if arch == "90":
            assert "bf16" in out and "mma" in out, msg
