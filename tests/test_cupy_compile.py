"""CPU checks of the CuPy backend: every CUDA source compiles (nvcc -cubin, no device needed) for
sm_90 and sm_80 at every specialization the models use (and the chunked forward at other head
sizes), in the form NVRTC sees at run time; the chunked forward's launch plan; and the backend
imports without a GPU, reporting itself unavailable with a reason."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile

import pytest
import torch

SPILL_OK = {"bigla_tc_bwd"}
NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if os.path.exists("/usr/local/bin/nvcc") else None)


def _routed_tc_modules(K, V, in32=True):
    """The bigla_tc.cu modules (their -D defines) that the backend's default routing builds at head dims K, V:
    forward and backward plans of fp16 and bf16 inputs, 16-byte-aligned rows and rows off by one element, one
    sequence under TC_MAX_SEG and one over it (segmented), on a device whose SM count puts the output pass inside
    and outside v39w's wave rule. ``in32=False``: as if the inputs' element offsets did not fit 32 bits (_in32), the
    fallbacks of views that span 2^31 elements (v36q, v26's forward). Not reached: the backward's BW4 2 fallback for
    workspaces of 2^31 elements or more (it compiles on use). The VIG_CUPY_* switches are unset meanwhile (the
    defaults' modules, whatever the environment says). Nothing runs: dev_mock replaces each launch (CPU tensors),
    and the recurrent kernels' launches are dropped (their specializations are listed by BH in _specs)."""
    import vig_kernels.cupy as m
    from vig_kernels.cupy import dev_mock

    env = {n: os.environ.pop(n) for n in [n for n in os.environ if n.startswith("VIG_CUPY_")]}
    m.reload_env()
    try:
        return _routed(m, dev_mock, K, V, in32)
    finally:
        os.environ.update(env)
        m.reload_env()


def _routed(m, dev_mock, K, V, in32):
    found = set()
    be = m.CuPyBackend()
    g = torch.Generator().manual_seed(K * 1000 + V)
    for dtype in (torch.float16, torch.bfloat16):
        for B, H, L in ((2, 3, 40), (1, 2, m.TC_MAX_SEG + 44)):
            for sms, off in ((132, 0), (2, 0), (132, 1)):  # B H = 6 blocks: 2 * 2 < 6 <= 3 * 2
                def rows(n, dtype):  # B L H n, the first element ``off`` past a fresh buffer's start
                    return torch.randn(B * L * H * n + off, generator=g).to(dtype)[off:].view(B, L, H, n)

                q, k, v, do = rows(K, dtype), rows(K, dtype), rows(V, dtype), rows(V, dtype)
                gf, gb = rows(K, torch.float32), rows(K, torch.float32)
                gf, gb = -gf.abs(), -gb.abs()
                saved = (m._launch, m._device_index, m._in32)
                with dev_mock.host_plans(m, sms=sms):
                    planned = m._MODULES.kernel_defs

                    def kernel_defs(src, func, dev, defines, smem, planned=planned):
                        if src == "bigla_tc.cu":
                            found.add(defines)
                        return planned(src, func, dev, defines, smem)

                    m._MODULES.kernel_defs = kernel_defs
                    m._launch = lambda *a: None  # the recurrent kernels (CPU tensors: device 0 of none)
                    m._device_index = lambda device: 0
                    if not in32:
                        m._in32 = lambda *ts: False
                    try:
                        o, st = be.forward(q, k, v, gf, gb, K ** -0.5)
                        be.backward(q, k, v, gf, gb, K ** -0.5, do, st)
                    finally:
                        m._launch, m._device_index, m._in32 = saved
    return found


def _specs():
    """(source, defines, no_spill, arch) of every compile test: the recurrent kernels (bigla_fwd.cu, bigla_bwd.cu:
    fp32, and fp16 / bf16 rows the chunked kernels do not take) at the models' K, V for every dtype and the
    benchmark's B H (the value split depends on B H), and the bigla_tc.cu modules the default routing builds
    (_routed_tc_modules): at the models' K = 32, V = 64 for sm_90 and sm_80, their fallbacks for views that span
    2^31 elements (v36q, v26's forward) and the other head sizes for sm_90. The opt-in variants (VIG_CUPY_FWD /
    _BWD other than the defaults: v26, v30, v30l, v37, v39, v29q, v29r, v31, v31q, ...) and the backward's BW4 2
    fallback (workspaces of 2^31 elements) are not compiled here (CI time; each was GPU-proven when it was timed,
    and compiles on use); before session 23 this matrix listed modules by hand, and its v36 entry lacked the FWL
    define the routing adds (tests/test_cupy_compile.py at 69939ee). Without cupy (the plans import it) only the
    recurrent kernels are listed."""
    import torch as _t

    from vig_kernels.cupy import TILE, _bwd_wide, _fwd_wide, _kp, _vp

    K, V = 32, 64  # every ViG size
    kp = _kp(K)
    specs = set()
    for dtype, code in ((_t.float32, 0), (_t.float16, 1), (_t.bfloat16, 2)):
        for BH in (24, 48, 384, 768, 1536, 6):  # benchmark shapes plus a tiny batch
            for src, vp in (("bigla_fwd.cu", _vp(kp, V, BH, _fwd_wide(kp, dtype))),
                            ("bigla_bwd.cu", _vp(kp, V, BH, _bwd_wide(kp)))):
                specs.add((src, (("DTYPE", code), ("KP", kp), ("VP", vp), ("TT", TILE)), True, "sm_90"))
    if importlib.util.find_spec("cupy") is None:  # the plans import cupy: no chunked modules to list
        return sorted(specs, key=lambda s: (s[0], s[3], s[1]))
    models = _routed_tc_modules(K, V)
    for k, v, in32 in ((K, V, True), (K, V, False), (16, 16, True), (64, 64, True), (128, 128, True)):
        for defines in (models if (k, v, in32) == (K, V, True) else _routed_tc_modules(k, v, in32)):
            # no spills at the models' K on sm_90 (the H100, where the chunked kernels are tuned: capped at 128
            # registers, ptxas spills 40 bytes on sm_80), except v39's output pass (FC3: 3 blocks per SM, 80
            # registers, 24 bytes spilled, accepted) and the segmented forward's state pass on scalar rows (FWM0
            # with VEC 0, 3 blocks per SM: 28 bytes, found when this matrix became the routing's in session 23);
            # the chunked backward is in SPILL_OK
            strict = (k == K and ("FC3", 1) not in defines
                      and not (("VEC", 0) in defines and ("FWM0", 1) in defines))
            specs.add(("bigla_tc.cu", defines, strict, "sm_90"))
            if defines in models:
                specs.add(("bigla_tc.cu", defines, False, "sm_80"))
    for src, defines, strict, arch in list(specs):
        if src != "bigla_tc.cu":
            specs.add((src, defines, True, "sm_80"))
    return sorted(specs, key=lambda s: (s[0], s[3], s[1]))


def test_routed_modules_hold_the_defaults():
    """The compile matrix is the routing's (_routed_tc_modules, through dev_mock): it must hold the shipped
    modules, each spelled out here from the defaults (FWD v39w: v37's FL32 / FDEC / FTR tiles, its segmented
    state pass FWM0, v39's output pass FC3 where the wave rule holds; BWD v36: BW4 10 with O16; every chunked
    module with the v2.6 layout FWL), and the scalar-row (VEC 0) forms, so a mock that recorded nothing or the
    wrong launches cannot pass for a matrix."""
    pytest.importorskip("cupy", reason="the plans import cupy")
    import vig_kernels.cupy as m

    assert (m.FWD_DEFAULT, m.BWD_DEFAULT) == ("v39w", "v36"), "update the modules spelled out below"
    got = _routed_tc_modules(32, 64)
    for code in (1, 2):
        base = (("DTYPE", code), ("KT", 2), ("VEC", 1), ("FWL", 1))
        ftr = base + (("FL32", 1), ("FDEC", 1), ("FTR", 1))
        want = {base, ftr, ftr + (("FC3", 1), ("MINB", 3)), ftr + (("FWM0", 1), ("MINB", 3)),
                base + (("BW4", m._BW4["v36"]), ("O16", 1)),
                base[:2] + (("VEC", 0), ("FWL", 1)), base[:2] + (("VEC", 0), ("FWL", 1), ("FWM0", 1), ("MINB", 3))}
        assert want <= got, sorted(want - got)
    assert len(got) == 14, sorted(got)


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


def test_nvrtc_front_end_accepts_every_backward():
    """NVRTC (what cupy.RawModule runs on the GPU) parses the chunked kernels' source with every
    backward kind's level (bf16 and fp16, K = 32; front end only, --fdevice-syntax-only): nvcc, which
    the test above uses, accepts things NVRTC does not (session 9: __builtin_offsetof in v33 / v34)."""
    nvrtc = pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    from vig_kernels.cupy import _BW4, _O16, kernel_source, tc_kt

    src = kernel_source("bigla_tc.cu")
    inc = [f"-I{d}" for d in ("/usr/local/cuda/include",) if os.path.isdir(d)]
    levels = [(bw4, ()) for bw4 in sorted(set(_BW4.values()))]
    levels += [(_BW4[kind], ("-DO16=1",)) for kind in _O16]  # session 10: v36 / v36q
    for bw4, extra in levels:
        for code in (2, 1):
            prog = nvrtc.createProgram(src, "bigla_tc.cu", [], [])
            opts = ("--std=c++17", "--fdevice-syntax-only", "--gpu-architecture=sm_90", *inc,
                    f"-DDTYPE={code}", f"-DKT={tc_kt(32)}", "-DVEC=1", f"-DBW4={bw4}", *extra)
            try:
                nvrtc.compileProgram(prog, opts)
            except Exception as e:  # noqa: BLE001 (NVRTCError: the log says why)
                pytest.fail(f"NVRTC rejects BW4={bw4} {extra} DTYPE={code}: {e}\n"
                            f"{nvrtc.getProgramLog(prog)}")


def test_nvrtc_front_end_accepts_fwd37():
    """NVRTC's front end (what cupy.RawModule runs) accepts the v37 forward (session 10 round 3:
    VIG_CUPY_FWD=v37, -DFTR=1), mode 1 and the mode-0 module, bf16 and fp16, K = 16 / 32 / 64, and
    v39's output pass (session 13 round 2: -DFC3=1), K = 16 / 32."""
    nvrtc = pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    from vig_kernels.cupy import kernel_source

    src = kernel_source("bigla_tc.cu")
    inc = [f"-I{d}" for d in ("/usr/local/cuda/include",) if os.path.isdir(d)]
    for kt, m0, code in ((2, (), 2), (2, (), 1), (2, ("-DFWM0=1", "-DMINB=3"), 2), (1, (), 2), (4, (), 1),
                         (2, ("-DFC3=1", "-DMINB=3"), 2), (2, ("-DFC3=1", "-DMINB=3"), 1), (1, ("-DFC3=1",), 2)):
        prog = nvrtc.createProgram(src, "bigla_tc.cu", [], [])
        opts = ("--std=c++17", "--fdevice-syntax-only", "--gpu-architecture=sm_90", *inc,
                f"-DDTYPE={code}", f"-DKT={kt}", "-DVEC=1", "-DFWL=1", "-DFL32=1", "-DFDEC=1",
                "-DFTR=1", *m0)
        try:
            nvrtc.compileProgram(prog, opts)
        except Exception as e:  # noqa: BLE001 (NVRTCError: the log says why)
            pytest.fail(f"NVRTC rejects FTR KT={kt} {m0} DTYPE={code}: {e}\n{nvrtc.getProgramLog(prog)}")


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
    for bw4 in (7, 8, 9, 10, 11):  # v29, v29q, v29r, v31(q) (and v36(q): O16 adds no tile)
        assert m.tc_bwd_smem(2, bw4) == 34896 and m.tc_bwd_smem(1, bw4) == 21712
    assert m.tc_bwd_smem(1, 3) == 21712 and m.tc_dir_smem(1, True) == 11152
    # session 13 round 2, v39's output pass: 2 x sizeof(FwdSmem) (g++ of the emulator build: 12688 at
    # K = 32, 8528 at K = 16) + VB floats a row; v37's: 2 x sizeof(DirSmem) + VB + 4 floats a row
    assert m.tc_fwd_smem(2, (("FC3", 1),), 196) == 2 * 12688 + 196 * 64 * 4 == 75552
    assert m.tc_fwd_smem(1, (("FC3", 1),), 100) == 2 * 8528 + 100 * 64 * 4
    assert m.tc_fwd_smem(2, (("FTR", 1),), 196) == 2 * m.tc_dir_smem(2) + 196 * 68 * 4
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


def _raises_when_set(name, value, match):
    """reload_env raises a ValueError matching ``match`` while ``name`` is ``value``; restored after."""
    import vig_kernels.cupy as m

    saved = {name: os.environ.get(name)}
    os.environ[name] = value
    try:
        with pytest.raises(ValueError, match=match):
            m.reload_env()
    finally:
        _restore(saved)


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
    """VIG_CUPY_FWD0 (session 6): "generic" (the default until session 7's mid call) keeps the mode-0
    launches' defines; "m0" (the default since) adds FWM0=1 MINB=3 for K <= 32 (kt <= 2) only."""
    import vig_kernels.cupy as m

    d = (("DTYPE", 2), ("KT", 2), ("VEC", 1), ("FWL", 1))
    if "VIG_CUPY_FWD0" not in os.environ:  # the default: "m0" since session 7's mid call
        assert m.FWD0_DEFAULT == "m0" and m.fwd0_defines(d, 2) == d + (("FWM0", 1), ("MINB", 3))
    saved = _knobs(VIG_CUPY_FWD0="generic")
    try:
        assert m.fwd0_defines(d, 2) == d and m.fwd0_defines(d, 1) == d
    finally:
        _restore(saved)
    saved = _knobs(VIG_CUPY_FWD0="m0")
    try:
        assert m.fwd0_defines(d, 2) == d + (("FWM0", 1), ("MINB", 3))
        assert m.fwd0_defines(d, 1) == d + (("FWM0", 1), ("MINB", 3))
        assert m.fwd0_defines(d, 4) == d  # K > 32: the generic module
    finally:
        _restore(saved)


def test_dgfix_launch():
    """VIG_CUPY_DGFIX (session 6): "scalar" (the default until session 7's mid call; "vec" since)
    launches bigla_tc_dg_fix over every
    element; "vec" launches bigla_tc_dg_fix4 with blocks of rs rows x H*K/4 float4 columns (rs a power
    of two, <= 256 threads), 4 rs rows a block, grid (segment blocks, segments, batch) covering every
    row of every segment once; K % 4 != 0 or H*K > 1024 falls back to the scalar kernel."""
    import vig_kernels.cupy as m

    if "VIG_CUPY_DGFIX" not in os.environ:  # the default: "vec2" since session 8 ("vec" in session 7)
        assert m.DGFIX_DEFAULT == "vec2"
        assert m.dgfix_launch(8, 4096, 3, 32, 128, 32)[:3] == ("bigla_tc_dg_fix4s", (4, 32, 8),
                                                              (192, 1, 1))
    saved = _knobs(VIG_CUPY_DGFIX="scalar")
    try:
        assert m.dgfix_launch(8, 4096, 3, 32, 128, 32)[:3] == ("bigla_tc_dg_fix", (12288, 1, 1),
                                                              (256, 1, 1))
    finally:
        _restore(saved)
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
    # vec2 (session 7): dg_fix4's grid, block and rows, its sums in 2 H K / 4 float4 of shared memory
    for B, L, H, K, seglen in ((8, 4096, 3, 32, 128), (8, 4096, 6, 32, 256), (1, 200, 32, 32, 64)):
        nseg = -(-L // seglen)
        saved = _knobs(VIG_CUPY_DGFIX="vec")
        try:
            v1 = m.dgfix_launch(B, L, H, K, seglen, nseg)
        finally:
            _restore(saved)
        saved = _knobs(VIG_CUPY_DGFIX="vec2")
        try:
            v2 = m.dgfix_launch(B, L, H, K, seglen, nseg)
            assert v2[0] == "bigla_tc_dg_fix4s" and v2[1:3] == v1[1:3]
            assert [int(c) for c in v2[3]] == [int(c) for c in v1[3]]
            assert m.dgfix_smem(v2[0], H, K) == 2 * (H * K // 4) * 16
            assert m.dgfix_smem(v1[0], H, K) == 0 and m.dgfix_smem("bigla_tc_dg_fix", H, K) == 0
            assert m.dgfix_launch(1, 100, 2, 18, 32, 4)[0] == "bigla_tc_dg_fix"  # K % 4 != 0
        finally:
            _restore(saved)
    saved = {"VIG_CUPY_DGFIX": os.environ.get("VIG_CUPY_DGFIX")}
    os.environ["VIG_CUPY_DGFIX"] = "bogus"
    try:
        with pytest.raises(ValueError):
            m.reload_env()
    finally:
        _restore(saved)


def test_v29r_in32_rule():
    """v29r (VIG_CUPY_BWD=v29r, -DBW4=9) addresses its chunk loads in 32-bit element offsets: the
    plan takes it only where every input view's offsets, 16 tokens beyond either end included, stay
    below 2^31 (_in32), else v29q (-DBW4=8); meta tensors carry the strides without memory."""
    import vig_kernels.cupy as m

    def view(B, L, H, C, sl=None):
        sl = H * C if sl is None else sl
        return torch.empty_strided((B, L, H, C), (L * sl, sl, C, 1), device="meta")

    assert m._in32(view(128, 196, 3, 32), view(8, 4096, 6, 64), view(8, 4096, 3, 32, 3 * 96 + 96))
    # the largest offset (B L H C - 1) + 16 tokens' stride just below / at 2^31
    C = 64
    L = (2**31 - 16 * C) // C  # one head, B = 1: span = (L - 1) C + (C - 1)
    assert m._in32(view(1, L, 1, C))
    assert not m._in32(view(1, L + 1, 1, C))
    assert not m._in32(view(1, 8, 1, 32), view(2, 4096, 1, 32, 2**18))  # any one view decides
    assert "v29r" in m.BWD_KINDS and m._BW4["v29r"] == 9
    # session 9: v31 (-DBW4=10) is v29r + the dg-row stores off (A) - (B), v31q (11) the same on
    # v29q: v31 falls back to v31q where _in32 fails (as v29r to v29q)
    assert [m._BW4[k] for k in ("v31", "v31q")] == [10, 11]
    assert {"v31", "v31q"} <= set(m.BWD_KINDS)
    # session 10 round 2: v36 / v36q are v31 / v31q + -DO16=1 (same levels, same fallback)
    assert [m._BW4[k] for k in ("v36", "v36q")] == [10, 11] and m._O16 == ("v36", "v36q")


def test_a_launch_off_the_current_device_raises(monkeypatch):
    """The shared layer (vig.ops) makes the tensors' device current before a backend's entry points run; the CuPy
    launchers keep no device switch of their own (one copy of that logic) and refuse a launch for a device that is
    not the current one instead of running it on the wrong one."""
    import vig_kernels.cupy as m

    ran = []
    monkeypatch.setattr(m, "_current_device", lambda: 0)
    monkeypatch.setattr(m._MODULES, "stream", lambda dev: None)
    with pytest.raises(RuntimeError, match=r"tensors are on cuda:1 but cuda:0 is the current device"):
        m._run([lambda P, stream: ran.append(P)], (1, 2), 1)
    assert not ran
    m._run([lambda P, stream: ran.append(P)], (1, 2), 0)
    assert ran == [(1, 2)]


def test_removed_backwards_raise():
    """Session 9's v32 / v32q / v33 / v33q / v34 / v34q (-DBW4=12 - 17) were proven on the GPU, not
    faster than v31, and removed (fdf897e), as session 10 round 1's v35 / v35q (0dc6b40): selecting
    one raises a ValueError naming the switch instead of silently running another backward; the
    kernel source no longer has their levels / landing tiles."""
    import vig_kernels.cupy as m

    assert max(m._BW4.values()) == 11 and not set(m._BWD_REMOVED) & set(m.BWD_KINDS)
    src = m.kernel_source("bigla_tc.cu")
    assert "cp.async.cg" not in src and "#define DQS" not in src and "#define CPA" not in src
    assert "LQ[CH]" not in src and "put_frag16" not in src  # v35's landing tiles
    for kind in ("v32", "v32q", "v33", "v33q", "v34", "v34q", "v35", "v35q"):
        saved = _knobs(VIG_CUPY_BWD=kind)
        try:
            commit = "0dc6b40" if kind.startswith("v35") else "fdf897e"
            with pytest.raises(ValueError, match=f"VIG_CUPY_BWD='{kind}'.*removed.*{commit}"):
                m.bwd_variant()
        finally:
            _restore(saved)


def test_removed_forwards_raise():
    """Session 13's v38 forward (-DFS2=1: two 16-token sub-chunks per lockstep step) was proven on the
    GPU (parity 120/120, sanitizers clean, outputs bit-identical to v37) but 11-13 % slower, and removed
    (2369e7f): selecting it raises a ValueError naming the switch instead of silently running another
    forward; the kernel source no longer has its sub-chunk slots."""
    import vig_kernels.cupy as m

    assert not set(m._FWD_REMOVED) & set(m.FWD_KINDS)
    assert "FwdSub" not in m.kernel_source("bigla_tc.cu") and "FS2" not in m.kernel_source("bigla_tc.cu")
    saved = _knobs(VIG_CUPY_FWD="v38")
    try:
        with pytest.raises(ValueError, match="VIG_CUPY_FWD='v38'.*removed.*2369e7f"):
            m.fwd_kind(torch.bfloat16)
    finally:
        _restore(saved)


def test_fwd30_defines():
    """VIG_CUPY_FWD=v30 / v30l (session 8; on trial): the forward's launches (both modes and the
    backward's own state pass) get FL32 (+ FDEC for v30) only with 16-byte rows (VEC=1) and every
    view's offsets below 2^31 (_in32); v26 (the default) and the fallbacks keep v26's defines, and
    both share v26's shared-memory layout (FWL=1)."""
    import vig_kernels.cupy as m

    def view(B, L, H, C, sl=None):
        sl = H * C if sl is None else sl
        return torch.empty_strided((B, L, H, C), (L * sl, sl, C, 1), device="meta")

    q, v = view(128, 196, 6, 32), view(128, 196, 6, 64)
    g = view(128, 196, 6, 32, 6 * 64)  # one gate half of a fused projection
    d = (("DTYPE", 2), ("KT", 2), ("VEC", 1), ("FWL", 1))
    d0 = (("DTYPE", 2), ("KT", 2), ("VEC", 0), ("FWL", 1))
    big = view(1, 2**26, 1, 32)  # 2^31 elements: beyond the 32-bit products
    assert {"v30", "v30l", "v37", "v39", "v39w"} <= set(m.FWD_KINDS)
    saved = _knobs(VIG_CUPY_FWD="v26")
    try:
        assert m.fwd_defines(d, q, q, v, g, g) == d
    finally:
        _restore(saved)
    for kind, extra in (("v30", (("FL32", 1), ("FDEC", 1))), ("v30l", (("FL32", 1),)),
                        ("v37", (("FL32", 1), ("FDEC", 1), ("FTR", 1))),  # session 10 round 3
                        ("v39", (("FL32", 1), ("FDEC", 1), ("FTR", 1))),  # session 13 round 2
                        ("v39w", (("FL32", 1), ("FDEC", 1), ("FTR", 1)))):  # session 14
        saved = _knobs(VIG_CUPY_FWD=kind)
        try:
            assert m._fwl() and m.fwd_kind(torch.bfloat16) == "chunked"
            assert m.fwd_defines(d, q, q, v, g, g) == d + extra
            # the output pass: v39 adds FC3 and MINB=3 at K <= 32 where v37's code runs, nothing else
            # (v39w: only where the grid is more than 2 and at most 3 blocks per SM)
            fc3 = (("FC3", 1), ("MINB", 3)) if kind == "v39" else ()
            assert m.fwd1_defines(d + extra, 2) == m.fwd1_defines(d + extra, 1) == d + extra + fc3
            assert m.fwd1_defines(d + extra, 4) == d + extra  # K = 64: v37's module
            assert m.fwd1_defines(d, 2) == d  # v26's code (scalar loads, views past 2^31)
            w = (("FC3", 1), ("MINB", 3)) if kind in ("v39", "v39w") else ()
            for blocks, sms, win in ((384, 132, True), (265, 132, True), (396, 132, True), (264, 132, False),
                                     (397, 132, False), (768, 132, False), (6, 132, False), (768, 300, True)):
                assert m.wave_rule(blocks, sms) == win
                want = w if (win or kind == "v39") else ()
                assert m.fwd1_defines(d + extra, 2, blocks, sms) == d + extra + want
                assert m.fwd1_defines(d + extra, 4, blocks, sms) == d + extra
            assert m.fwd_defines(d0, q, q, v, g, g) == d0  # scalar loads: v26's code
            assert m.fwd_defines(d, q, q, v, g, big) == d  # one view past 2^31: v26
            assert m._tc_defines(torch.bfloat16, 2, 1) == d  # the backward's module: unchanged
        finally:
            _restore(saved)


def test_v39w_wave_rule_in_plans():
    """VIG_CUPY_FWD=v39w (session 14, the default): the output pass (mode 1) takes v39's module (FC3,
    MINB=3, its smaller shared memory) where its grid fits one wave at 3 blocks per SM but not at 2
    (ViG-T@224: 384 blocks on 132 SMs), v37's elsewhere (ViG-S@224: 768; a batch of 2: 6); the SM count
    is the device's (dev_mock: 132, or as given)."""
    pytest.importorskip("cupy")
    import vig_kernels.cupy as m

    saved = _knobs(VIG_CUPY_FWD="v39w")
    try:
        for B, H, sms, fc3 in ((128, 3, 132, True), (128, 6, 132, False), (2, 3, 132, False),
                               (128, 6, 300, True)):
            fw = _record(B, H, 196, False, 256, sms=sms)[6]
            f, grid, _, smem, defs, _ = fw[-1]  # the output pass (a batch of 2 runs segments first)
            nvb, seglen, nseg = m.tc_plan(B, H, 196, 64)
            assert f == "bigla_tc_fwd" and grid == (B * H, nseg, nvb)
            assert m.wave_rule(B * H * nseg * nvb, sms) == fc3
            assert (("FC3", 1) in defs) == fc3 and (("MINB", 3) in defs) == fc3 and ("FTR", 1) in defs
            assert smem == m.tc_fwd_smem(2, defs, seglen)
            assert all(("FC3", 1) not in r[4] for r in fw[:-1])  # the state pass: v37's module
    finally:
        _restore(saved)


def test_bwd_minb_removed():
    """VIG_CUPY_BWD_MINB (session 14: the backward under __launch_bounds__(256, 3)) was removed after its
    H100 run (bit-identical, 36-52 % slower): setting it raises, naming the switch, instead of being
    silently ignored."""
    _raises_when_set("VIG_CUPY_BWD_MINB", "3", "VIG_CUPY_BWD_MINB.*removed")


@pytest.mark.parametrize("name", ["VIG_CUPY_BWD_LONG", "VIG_CUPY_SAVE_STATES", "VIG_CUPY_SEG128"])
def test_onoff_switches_refuse_other_values(name):
    """The on / off switches take "1" / "0" (until session 24 any other value, "yes" or "true", silently meant
    off): anything else raises naming the switch; "0" turns it off."""
    import vig_kernels.cupy as m

    key = {"VIG_CUPY_BWD_LONG": "long", "VIG_CUPY_SAVE_STATES": "save", "VIG_CUPY_SEG128": "seg128"}[name]
    saved = _knobs(**{name: "0"})
    try:
        assert m._ENV[key] is False
    finally:
        _restore(saved)
    assert m._ENV[key] is True  # the default
    _raises_when_set(name, "yes", f"{name}='yes'")


@pytest.mark.parametrize("name,value,top", [("VIG_CUPY_MAX_SEG", "abc", 256), ("VIG_CUPY_MAX_SEG", "100", 256),
                                            ("VIG_CUPY_BWD_SEG", "512", 256), ("VIG_CUPY_BWD_SEG", "0", 64)])
def test_segment_caps_are_checked(monkeypatch, name, value, top):
    """VIG_CUPY_MAX_SEG / VIG_CUPY_BWD_SEG are read once, at import (``_seg_knob``): a value that is not a multiple
    of 16 in [16, top] (or not a number) raises a ValueError naming the switch; a good one is taken."""
    import vig_kernels.cupy as m

    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r}: expected a multiple of 16 in \\[16, {top}\\]"):
        m._seg_knob(name, 256, top)
    monkeypatch.setenv(name, "64")
    assert m._seg_knob(name, 256, top) == 64
    monkeypatch.delenv(name)
    assert m._seg_knob(name, 48, top) == 48  # unset: the default


def test_launch_switch_removed():
    """VIG_CUPY_LAUNCH was removed in session 6 (the plan launcher is the only one): "plan" is a
    no-op, any other value ("legacy") raises a clear error instead of silently running the plans."""
    import vig_kernels.cupy as m

    saved = _knobs(VIG_CUPY_LAUNCH="plan")
    _restore(saved)
    _raises_when_set("VIG_CUPY_LAUNCH", "legacy", "VIG_CUPY_LAUNCH='legacy'.*removed")
    assert not hasattr(m, "tc_forward") and not hasattr(m, "tc_backward")


def _record(B, H, L, keep, max_seg=None, K=32, V=64, sms=132):
    """The launches of plan_forward / plan_backward on CPU tensors (dev_mock.host_plans: the cupy
    Function mocked, nothing runs), with the tensors they were given and returned."""
    from vig_kernels.cupy import dev_mock

    import vig_kernels.cupy as m

    g = torch.Generator().manual_seed(L)
    q, k, gf, gb = (torch.randn(B, L, H, K, generator=g) for _ in range(4))
    v, do = (torch.randn(B, L, H, V, generator=g) for _ in range(2))
    q, k, v, do = (t.to(torch.bfloat16) for t in (q, k, v, do))
    gf, gb = -gf.abs(), -gb.abs()
    scale = K ** -0.5
    with dev_mock.host_plans(m, max_seg=max_seg, sms=sms) as rec:
        r = m.plan_forward(q, k, v, gf, gb, scale, keep)
        o, st = r if keep else (r, ())
        nf = len(rec)
        grads = m.plan_backward(q, k, v, gf, gb, scale, do, st)
        chunked = m.bwd_kind(q, v, do, k) == "chunked"
        fwd_plan = m.tc_plan(B, H, L, V)
        bwd_seg = (L, 1) if L <= m.TC_BWD_SEG else m.tc_plan(B, H, L, V, m.TC_BWD_SEG)[1:]
        launches = list(rec)
    return (q, k, v, gf, gb, do), scale, o, st, grads, chunked, launches[:nf], launches[nf:], \
        fwd_plan, bwd_seg


def _bytes(x):
    return int(x).to_bytes(8, "little")


def _consts_ok(vals, consts):
    """The argument slots after the pointers hold ``consts`` (numpy scalars), each in its own
    8-byte slot, little-endian, zero-padded (what a cuLaunchKernel parameter of that type reads)."""
    assert len(vals) == len(consts)
    for x, c in zip(vals, consts):
        assert _bytes(x) == c.tobytes() + bytes(8 - c.nbytes), (c, x)


@pytest.mark.parametrize("B,H,L,keep,max_seg,K,V", [
    (128, 3, 196, True, None, 32, 64), (2, 3, 196, True, None, 32, 64),
    (2, 3, 196, False, None, 32, 64), (1, 2, 130, True, 64, 32, 64), (1, 2, 130, False, 64, 32, 64),
    (8, 3, 600, True, None, 32, 64), (1, 2, 40, True, None, 128, 128), (1, 1, 300, True, None, 16, 80),
    (2, 2, 50, False, None, 20, 24)])
def test_plan_launches(B, H, L, keep, max_seg, K, V):
    """The plan launcher (the only launcher of bigla_tc.cu since session 6) launches, per call, the
    kernels of the segment plan with their grids, blocks, shared memory and defines; every argument
    in the kernels' parameter order (the pointers: the inputs, the returned output, the kept states,
    one workspace per buffer, consistent across launches; the constants' bytes in 8-byte slots);
    returns the gradients shaped, typed and strided as the contract says. (The values: `python
    kernels/cupy/dev_emu.py plan` runs the same plans through the emulator against the oracle.)"""
    pytest.importorskip("cupy")  # the plan wraps its argument slots in cupy's CNumpyArray
    import numpy as np

    import vig_kernels.cupy as m

    i32, i64 = np.int32, np.int64
    rec = _record(B, H, L, keep, max_seg, K, V)
    (q, k, v, gf, gb, do), scale, o, st, grads, chunked, fw, bw = rec[:8]
    (nvb, seglen, nseg), (bseg, bnseg) = rec[8:]
    BH, kt = B * H, m.tc_kt(K)
    kpd = 16 * kt
    inputs = [t.data_ptr() for t in (q, k, v, gf, gb, do)]

    def strides(*ts):
        return tuple(i64(s) for t in ts for s in t.stride()[:3])

    # ---- forward: [state pass (mode 0), scan,] output pass (mode 1)
    defines = m._tc_defines(q.dtype, kt, m.tc_vec(q, k, v))
    fdefs = m.fwd_defines(defines, q, k, v, gf, gb)  # VIG_CUPY_FWD=v30 / v30l: + FL32 (+ FDEC)
    dsm = 2 * m.tc_dir_smem(kt)
    head = (i32(B), i32(L), i32(H), i32(K), i32(V)) + strides(q, k, v, gf, gb) + (
        np.float32(scale / 2), i32(seglen))
    want = [("bigla_tc_fwd", (BH, nseg, nvb), dsm, m.fwd0_defines(fdefs, kt), head + (i32(0),))] \
        if nseg > 1 else []
    if nseg > 1:
        want.append((m.scan_func(), (-(-BH * 2 * nvb * m.TC_VB * kpd // 256), 1, 1), 0, defines,
                     (i32(BH), i32(nseg), i32(nvb * m.TC_VB), i32(0))))
    odefs = m.fwd1_defines(fdefs, kt, BH * nseg * nvb, 132)  # v39 / v39w (132 SMs, dev_mock's): + FC3, MINB=3
    want.append(("bigla_tc_fwd", (BH, nseg, nvb), m.tc_fwd_smem(kt, odefs, seglen), odefs,
                 head + (i32(1),)))
    assert len(fw) == len(want)
    for got, (f, grid, smem, defs, consts) in zip(fw, want):
        assert got[:5] == (f, grid, (256, 1, 1), smem, defs)
        nptr = len(got[5]) - len(consts)
        _consts_ok(got[5][nptr:], consts)
        assert nptr == (2 if "scan" in f else 8)
    assert o.shape == (B, L, H, V) and o.dtype == v.dtype
    po = o.data_ptr()
    out = fw[-1][5]
    assert out[:5] == inputs[:5] and out[5] == po
    if nseg > 1:
        assert fw[0][5][:8] == out[:8] and fw[1][5][:2] == out[6:8]  # st, gs: one buffer each
        assert len({po, out[6], out[7]} | set(inputs)) == 9  # distinct from the inputs and o
        if keep:
            assert [t.data_ptr() for t in st] == out[6:8]
            assert tuple(st[0].shape) == (BH, nseg, 2, nvb * m.TC_VB, kpd)
            assert tuple(st[1].shape) == (BH, nseg, 2, kpd)
    else:
        assert out[6] == out[7] == po and st == ()  # never touched with one segment

    # ---- backward
    if not chunked:  # the recurrent backward (V > 64, unaligned rows): the plan declines
        assert grads is None and bw == []
        return
    bw4 = m._BW4.get(m.bwd_variant(), 0)
    fdefines = m._tc_defines(q.dtype, kt, 1)
    bdefines = fdefines + ((("BW4", bw4),) if bw4 else ())
    o16 = m.bwd_variant() in m._O16  # session 10, v36 / v36q: + O16, three 16-bit output pointers
    if o16:
        bdefines += (("O16", 1),)
    npb = 18 if o16 else 15  # bigla_tc_bwd's pointer arguments
    reuse = bool(keep and bnseg > 1 and (nvb, seglen, nseg) == (1, bseg, bnseg))
    total = BH * 2 * m.TC_VB * kpd
    scan_grid = (-(-total // 256), 1, 1)
    bhead = (i32(B), i32(L), i32(H), i32(K), i32(V)) + strides(q, k, v, gf, gb, do) + (
        np.float32(scale / 2), i32(bseg))
    bsmem = 2 * m.tc_bwd_smem(kt, bw4)
    t256 = (256, 1, 1)
    want = []  # (func, grid, block, smem, defines, constants, pointers)
    if bnseg > 1 and not reuse:
        want += [("bigla_tc_fwd", (BH, bnseg, 1), t256, 2 * m.tc_dir_smem(kt),
                  m.fwd0_defines(m.fwd_defines(fdefines, q, k, v, gf, gb), kt),
                  (i32(B), i32(L), i32(H), i32(K), i32(V))
                  + strides(q, k, v, gf, gb) + (np.float32(scale / 2), i32(bseg), i32(0)), 8),
                 (m.scan_func(), scan_grid, t256, 0, fdefines,
                  (i32(BH), i32(bnseg), i32(m.TC_VB), i32(0)), 2)]
    if bnseg > 1:
        want += [("bigla_tc_bwd", (BH, bnseg, 1), t256, bsmem, bdefines, bhead + (i32(0),), npb),
                 (m.scan_func(), scan_grid, t256, 0, fdefines,
                  (i32(BH), i32(bnseg), i32(m.TC_VB), i32(1)), 2)]
    want.append(("bigla_tc_bwd", (BH, bnseg, 1), t256, bsmem, bdefines, bhead + (i32(1),), npb))
    if bnseg > 1:
        f, grid, block, consts = m.dgfix_launch(B, L, H, K, bseg, bnseg)
        want.append((f, grid, block, m.dgfix_smem(f, H, K), bdefines, consts, 3))
    assert len(bw) == len(want)
    for got, (f, grid, block, smem, defs, consts, nptr) in zip(bw, want):
        assert got[:5] == (f, grid, block, smem, defs)
        assert len(got[5]) == nptr + len(consts)
        _consts_ok(got[5][nptr:], consts)
    main = bw[-2 if bnseg > 1 else -1][5]  # mode 1
    # q k v gf gb do | dq dk dv [dq16 dk16 dv16] dgf dgb yq sts st_r ytot
    assert main[:6] == inputs
    nk = B * L * H * K
    if o16:  # v36: the returned 16-bit dq | dk | dv (one buffer, the fp32 one's layout)
        o1, o2, o3 = main[9:12]
        assert (o2 - o1, o3 - o1) == (2 * nk, 4 * nk)
        assert [t.data_ptr() for t in grads[:3]] == [o1, o2, o3]
        main = main[:9] + main[12:]
    dq, dk, dv, dgf, dgb, yq, sts, st_r, ytot = main[6:15]
    assert (dk - dq, dv - dq) == (4 * nk, 8 * nk)  # dq | dk | dv: one fp32 buffer (cast once, or
    # v36's, read back by the kernel)
    assert dgb - dgf == 4 * nk
    ws = [dq, dk, dv, dgf, dgb, yq] + ([o1] if o16 else [])
    if bnseg > 1:
        assert all(b[5][:npb] == bw[-2][5][:npb] for b in bw if b[0] == "bigla_tc_bwd")
        gs = bw[-3][5][1]  # the reverse scan: (st_r, gs)
        assert bw[-3][5][0] == st_r and bw[-1][5][:3] == [dgf, dgb, ytot]
        if reuse:  # the forward's kept states, no state pass of the backward's own
            assert [sts, gs] == [t.data_ptr() for t in st]
            assert [b[0] for b in bw].count("bigla_tc_fwd") == 0
        else:
            assert bw[0][5][5:8] == [dq, sts, gs] and bw[1][5][:2] == [sts, gs]
            ws += [sts, gs]
        ws += [st_r, ytot]
    else:
        assert sts == st_r == ytot == yq  # never touched with one segment
    assert len(set(ws)) == len(ws) and not set(ws) & set(inputs) and 0 not in ws
    gq, gk, gv, ggf, ggb = grads
    for x, like, dt in ((gq, q, q.dtype), (gk, k, q.dtype), (gv, v, q.dtype),
                        (ggf, q, torch.float32), (ggb, q, torch.float32)):
        assert x.shape == like.shape and x.dtype == dt and x.is_contiguous()
