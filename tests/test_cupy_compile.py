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
            # session 6: the state-pass-only module of the segmented forward (VIG_CUPY_FWD0=m0:
            # -DFWM0=1 -DMINB=3, K <= 32), both forward layouts; no spills at the models' K
            for k in (K, 16):
                for fwl in ((), (("FWL", 1),)):
                    specs.add(("bigla_tc.cu", (("DTYPE", code), ("KT", tc_kt(k)), ("VEC", 1))
                               + fwl + (("FWM0", 1), ("MINB", 3)), k == K))
            # the v2.4 / v2.5 chunked backwards (VIG_CUPY_BWD=v24 / v25): K <= 32, 16-byte rows
            for k in (K, 16):
                for bw4 in (1, 2, 3, 4, 7, 8):  # v24, v25, v26, v26p, v29, v29q (session 6)
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
    for bw4 in (7, 8):  # v29, v29q: v26p's BwdSmem
        assert m.tc_bwd_smem(2, bw4) == 34896 and m.tc_bwd_smem(1, bw4) == 21712
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


def _knobs(**env):
    """Set VIG_CUPY_* switches for a test (the backend reads them once: reload_env)."""
    import vig_kernels.cupy as m

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    m.reload_env()
    return saved


def _restore(saved):
    import vig_kernels.cupy as m

    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    m.reload_env()


def test_seg128_rule():
    """VIG_CUPY_SEG128=1: 128-token segments exactly where L > 256 and 256-token segments give
    fewer than TC_BLOCKS blocks (of the contract's shapes only ViG-T@1024); on by default since
    session 5, "0" turns it off."""
    import vig_kernels.cupy as m

    if "VIG_CUPY_SEG128" not in os.environ:  # the shipped default: the rule on
        assert m.tc_plan(8, 3, 4096, 64) == (1, 128, 32)
    saved = _knobs(VIG_CUPY_SEG128="0")
    try:
        assert m.tc_plan(8, 3, 4096, 64) == (1, 256, 16)     # the rule off: 256-token segments
        assert m.tc_plan(8, 3, 3000, 64) == (1, 256, 12)
    finally:
        _restore(saved)
    saved = _knobs(VIG_CUPY_SEG128="1")
    try:
        assert m.tc_plan(8, 3, 4096, 64) == (1, 128, 32)     # ViG-T@1024: 384 blocks -> 768
        assert m.tc_plan(8, 3, 3000, 64) == (1, 128, 24)     # partial last segment
        assert m.tc_plan(8, 6, 4096, 64) == (1, 256, 16)     # ViG-S@1024: 768 blocks already
        assert m.tc_plan(128, 3, 196, 64) == (1, 196, 1)     # 224 px: one segment
        assert m.tc_plan(2, 3, 300, 64) == (1, 64, 5)        # few blocks: the >= 64-token rule
        assert m.tc_plan(8, 3, 4096, 64, 64) == (1, 64, 64)  # a lower cap (tests) wins
    finally:
        _restore(saved)


def test_fwd0_defines():
    """VIG_CUPY_FWD0 (session 6): "generic" (the default) keeps the mode-0 launches' defines; "m0"
    adds FWM0=1 MINB=3 for K <= 32 (kt <= 2) only."""
    import vig_kernels.cupy as m

    d = (("DTYPE", 2), ("KT", 2), ("VEC", 1), ("FWL", 1))
    if "VIG_CUPY_FWD0" not in os.environ:
        assert m.fwd0_defines(d, 2) == d
    saved = _knobs(VIG_CUPY_FWD0="m0")
    try:
        assert m.fwd0_defines(d, 2) == d + (("FWM0", 1), ("MINB", 3))
        assert m.fwd0_defines(d, 1) == d + (("FWM0", 1), ("MINB", 3))
        assert m.fwd0_defines(d, 4) == d  # K > 32: the generic module
    finally:
        _restore(saved)


def test_dgfix_launch():
    """VIG_CUPY_DGFIX (session 6): "scalar" (the default) launches bigla_tc_dg_fix over every
    element; "vec" launches bigla_tc_dg_fix4 with blocks of rs rows x H*K/4 float4 columns (rs a power
    of two, <= 256 threads), 4 rs rows a block, grid (segment blocks, segments, batch) covering every
    row of every segment once; K % 4 != 0 or H*K > 1024 falls back to the scalar kernel."""
    import vig_kernels.cupy as m

    if "VIG_CUPY_DGFIX" not in os.environ:
        assert m.dgfix_launch(8, 4096, 3, 32, 128, 32)[:3] == ("bigla_tc_dg_fix", (12288, 1, 1),
                                                              (256, 1, 1))
    saved = _knobs(VIG_CUPY_DGFIX="vec")
    try:
        f, grid, block, consts = m.dgfix_launch(8, 4096, 3, 32, 128, 32)  # ViG-T@1024
        assert (f, grid, block, int(consts[-1])) == ("bigla_tc_dg_fix4", (4, 32, 8), (192, 1, 1), 8)
        f, grid, block, consts = m.dgfix_launch(8, 4096, 6, 32, 256, 16)  # ViG-S@1024
        assert (f, grid, block, int(consts[-1])) == ("bigla_tc_dg_fix4", (16, 16, 8), (192, 1, 1), 4)
        for B, L, H, K, seglen in ((2, 300, 3, 32, 64), (1, 100, 3, 12, 48), (1, 70, 32, 32, 64),
                                   (3, 1000, 1, 8, 256)):
            nseg = -(-L // seglen)
            f, grid, block, consts = m.dgfix_launch(B, L, H, K, seglen, nseg)
            rs = int(consts[-1])
            assert f == "bigla_tc_dg_fix4" and rs & (rs - 1) == 0 and block[0] == rs * H * K // 4 <= 256
            assert 2 * block[0] > 256  # the largest power of two that fits
            assert grid[1:] == (nseg, B) and (grid[0] - 1) * 4 * rs < seglen <= grid[0] * 4 * rs
        assert m.dgfix_launch(1, 100, 2, 18, 32, 4)[0] == "bigla_tc_dg_fix"    # K % 4 != 0
        assert m.dgfix_launch(1, 100, 33, 32, 32, 4)[0] == "bigla_tc_dg_fix"   # H * K > 1024
    finally:
        _restore(saved)
    saved = {"VIG_CUPY_DGFIX": os.environ.get("VIG_CUPY_DGFIX")}
    os.environ["VIG_CUPY_DGFIX"] = "bogus"
    try:
        with pytest.raises(ValueError):
            m.reload_env()
    finally:
        _restore(saved)


def _record_both(B, H, L, keep, max_seg=None, K=32, V=64):
    """The launches of tc_forward / tc_backward (legacy) and of plan_forward / plan_backward (the
    cupy Function mocked: nothing runs), on CPU tensors."""
    import numpy as np

    import vig_kernels.cupy as m

    g = torch.Generator().manual_seed(L)
    q, k, gf, gb = (torch.randn(B, L, H, K, generator=g) for _ in range(4))
    v, do = (torch.randn(B, L, H, V, generator=g) for _ in range(2))
    q, k, v, do = (t.to(torch.bfloat16) for t in (q, k, v, do))
    gf, gb = -gf.abs(), -gb.abs()
    legacy, planned = [], []

    def rec(func, grid, block, args, smem, defines):
        nptr = next(i for i, a in enumerate(args) if not isinstance(a, np.uint64))
        legacy.append((func, tuple(grid), tuple(block), smem, defines,
                       [int(a) for a in args[:nptr]], [a.tobytes() for a in args[nptr:]]))

    class Kern:
        def __init__(self, func, defines):
            self.func, self.defines = func, defines

    def function(kern, dev):
        def fn(grid, block, cargs, smem, stream):
            import ctypes

            vals = [ctypes.c_uint64.from_address(c.ptr).value for c in cargs]
            planned.append((kern.func, tuple(grid), tuple(block), smem, kern.defines, vals))
        return fn

    saved = (m._MODULES.kernel_defs, m._MODULES.stream, m._function, m._current_device,
             m.TC_MAX_SEG, m.TC_BWD_SEG)
    try:
        m._MODULES.kernel_defs = lambda src, func, dev, defines, smem: Kern(func, defines)
        m._MODULES.stream = lambda dev: None
        m._function = function
        m._current_device = lambda: -1
        if max_seg:
            m.TC_MAX_SEG = m.TC_BWD_SEG = max_seg
        scale = K ** -0.5
        r1 = m.tc_forward(q, k, v, gf, gb, scale, rec, keep)
        r2 = m.plan_forward(q, k, v, gf, gb, scale, keep)
        st1, st2 = (r1[1], r2[1]) if keep else ((), ())
        if m.bwd_kind(q, v, do, k) == "chunked":
            g1 = m.tc_backward(q, k, v, gf, gb, scale, do, rec, st1)
            g2 = m.plan_backward(q, k, v, gf, gb, scale, do, st2)
        else:  # the recurrent backward (V > 64, unaligned rows): the plan declines
            g1, g2 = (), m.plan_backward(q, k, v, gf, gb, scale, do, st2)
            assert g2 is None
            g2 = ()
    finally:
        (m._MODULES.kernel_defs, m._MODULES.stream, m._function, m._current_device,
         m.TC_MAX_SEG, m.TC_BWD_SEG) = saved
        m._PLANS.clear()
    inputs = [t.data_ptr() for t in (q, k, v, gf, gb, do)]
    return legacy, planned, inputs, (st1, st2), (r2[0] if keep else r2), (g1, g2)


@pytest.mark.parametrize("B,H,L,keep,max_seg,K,V", [
    (128, 3, 196, True, None, 32, 64), (2, 3, 196, True, None, 32, 64),
    (2, 3, 196, False, None, 32, 64), (1, 2, 130, True, 64, 32, 64), (1, 2, 130, False, 64, 32, 64),
    (8, 3, 600, True, None, 32, 64), (1, 2, 40, True, None, 128, 128), (1, 1, 300, True, None, 16, 80),
    (2, 2, 50, False, None, 20, 24)])
def test_plan_launcher_matches_legacy(B, H, L, keep, max_seg, K, V):
    """VIG_CUPY_LAUNCH=plan launches what the legacy launcher launches: the same kernels, grids,
    blocks, shared memory, defines and non-pointer argument bytes (each in its own 8-byte slot,
    zero-padded); the same input / saved-state pointers in the same positions; workspace pointers
    distinct from the inputs; the returned gradients shaped, typed and strided as before. (The
    values: `python kernels/cupy/dev_emu.py plan` runs both through the emulator, bit-identical.)"""
    pytest.importorskip("cupy")  # the plan wraps its argument slots in cupy's CNumpyArray
    legacy, planned, inputs, (st1, st2), o, (g1, g2) = _record_both(B, H, L, keep, max_seg, K, V)
    assert len(legacy) == len(planned) >= 1
    nf = 3 if len(planned) > 1 and planned[1][0].startswith("bigla_tc_scan") else 1  # forward's
    same = {p: p for p in inputs}  # legacy pointer -> the plan's, where both must agree
    same.update({a.data_ptr(): b.data_ptr() for a, b in zip(st1, st2)})  # the kept states
    ws, wsr = {}, {}
    for i, (a, b) in enumerate(zip(legacy, planned)):
        if i == nf:  # the backward's buffers (the legacy forward's freed ones may be reused)
            ws.clear(), wsr.clear()
        assert a[:5] == b[:5]
        nptr = len(a[5])
        assert len(b[5]) == nptr + len(a[6])
        for c, x in zip(a[6], b[5][nptr:]):
            assert int(x).to_bytes(8, "little") == c + bytes(8 - len(c))
        for j, (pa, pb) in enumerate(zip(a[5], b[5][:nptr])):
            if pa in same:
                assert pb == same[pa], (a[0], j)
            else:  # a workspace: never an input or a kept state, one legacy buffer <-> one plan's
                assert pb not in inputs and pb not in same.values() and pb != 0, (a[0], j)
                assert ws.setdefault(pa, pb) == pb and wsr.setdefault(pb, pa) == pa, (a[0], j)
    assert o.data_ptr() == planned[nf - 1][5][5] and planned[nf - 1][0] == "bigla_tc_fwd"
    assert [tuple(s.shape) for s in st1] == [tuple(s.shape) for s in st2]
    for x, y in zip(g1, g2):
        assert x.shape == y.shape and x.dtype == y.dtype and x.stride() == y.stride()
    if st2 and "bigla_tc_dg_fix" in [b[0] for b in planned]:
        # a segmented backward reused the forward's kept states (no state pass of its own)
        assert [b[0] for b in planned].count("bigla_tc_fwd") == 2
        assert all(st2[0].data_ptr() in b[5] for b in planned[3:] if b[0] == "bigla_tc_bwd")
        assert any(st2[1].data_ptr() in b[5] for b in planned[3:] if "scan" in b[0])
