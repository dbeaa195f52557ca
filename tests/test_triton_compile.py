"""Compile-only check of the Triton backend's kernels for real GPUs, on a machine without one.

Every kernel at the specializations the models use (K=32, V=64; bf16, fp16, fp32; whole sequence
and segmented, V whole and V split) is compiled to a cubin for sm_90 and sm_80 by ``triton.compile`` in a subprocess
without TRITON_INTERPRET (compile-only fails inside an interpreter process) and with a fresh
TRITON_CACHE_DIR (a warm cache once hid a failure). One subprocess per arch, run in parallel.
"""
import os
import re
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
        # 3 dtypes x (the derived-exp fwd, the derived-exp bwd with CS, fwd segment states, bwd
        # segment states) + the segment scan (+ the carry prefix with v2.6's segment kernels): 14
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


def _compile_sm90(tmp_path, flag, bf16_only=False):
    """compile_check FLAG for sm_90 in a fresh process (no TRITON_INTERPRET, a private Triton cache):
    (return code, the number of kernels it reports ok, its output); bf16_only: the bf16 kernels only
    (the opt-in variants, for CI time)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache90")
    if bf16_only:
        env["VIG_CC_BF16_ONLY"] = "1"
    r = subprocess.run([sys.executable, "-m", "vig_kernels.triton.compile_check", flag, "90"],
                       env=env, capture_output=True, text=True, timeout=1200)
    return r.returncode, r.stdout.count("ok   "), r.stdout + r.stderr


def test_v26_segment_kernels_compile_for_sm90(tmp_path):
    """The v2.6 segment kernels (VIG_TRITON_BSEG=v26, the default since v2.6; the opt-in
    VIG_TRITON_FSCAN and VIG_TRITON_FPIPE; NOTES.md v2.6) compile for sm_90: the two-state backward segment kernel, the forward kernel
    with the pipelined and the scanned segment assembly (three dtypes each), the backward scan,
    carry and forward scan kernels."""
    rc, ok, out = _compile_sm90(tmp_path, "--v26")
    from vig_kernels.triton.compile_check import _v26_specs

    assert rc == 0 and ok == len(_v26_specs()), out


def _segmented_parity(monkeypatch, knobs, seed, label, calls=1, regime="neg_inf", edit=None):
    """Triton with ``knobs`` set against the float64 oracle on one segmented case (the interpreter
    cuts every sequence into 3 segments; on a GPU VIG_TRITON_SEGMENT=3, VIG_TRITON_SEG_MIN_L=16
    force them), gates of ``regime`` (the default, neg_inf, has -inf entries, so the carries matter;
    ``edit`` can plant strong ones); on a GPU the op runs
    ``calls`` times and the last call is judged. ``edit(gf, gb)``, if given, changes the gates in
    place before the run."""
    import torch
    import vig
    from vig_kernels import triton as tb

    from .parity import assert_parity, oracle, plain_pytorch, run_with_grads
    from .strategies import Case, make_inputs

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    for key in ("VIG_TRITON_LAUNCH", "VIG_TRITON_GRADBUF", "VIG_TRITON_DOT_FWD", "VIG_TRITON_DX_FWD",
                "VIG_TRITON_DX_BWD", "VIG_TRITON_FO_FWD", "VIG_TRITON_FO_BWD", "VIG_TRITON_CS_BWD",
                "VIG_TRITON_CHUNK_BWD", "VIG_TRITON_WARPS_BWD", "VIG_TRITON_SPLIT_BWD",
                "VIG_TRITON_SPLIT_SMS", "VIG_TRITON_NREG_SPLIT", "VIG_TRITON_KEEP_STATES",
                "VIG_TRITON_STATE_CHUNK"):
        monkeypatch.delenv(key, raising=False)
    for key, val in {"VIG_TRITON_SEGMENT": "3", "VIG_TRITON_SEG_MIN_L": "16", **knobs}.items():
        monkeypatch.setenv(key, val)
    tb.reload_knobs()
    try:
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        case = Case(B=1, L=130, H=2, K=32, V=64, dtype="bfloat16", regime=regime, layout="fused",
                    gate_dtype="float32", seed=seed)
        q, k, v, gf, gb, do = make_inputs(case, dev)
        if edit is not None:
            edit(gf, gb)
        for _ in range(calls if dev == "cuda" else 1):
            got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="triton"),
                                 (q, k, v, gf, gb), do)
        assert_parity(got, oracle((q, k, v, gf, gb), do), plain_pytorch((q, k, v, gf, gb), do),
                      q.dtype, context=f"[triton {label} {knobs}: {case}]")
    finally:
        monkeypatch.undo()
        tb.reload_knobs()


@pytest.mark.parametrize("knobs", [{"VIG_TRITON_BSEG": "v26", "VIG_TRITON_FSCAN": "1"},
                                   {"VIG_TRITON_BSEG": "v26", "VIG_TRITON_FPIPE": "3"}])
def test_v26_segmented_path(knobs, monkeypatch):
    """The v2.6 segment machinery against the float64 oracle, in the interpreter (which cuts
    every sequence into 3 segments) or on a GPU with segments forced (VIG_TRITON_SEGMENT=3,
    VIG_TRITON_SEG_MIN_L=16); gates with -inf and strong entries so the carries matter."""
    _segmented_parity(monkeypatch, knobs, seed=5, label="v2.6")


_DIRECT_LAUNCH_SCRIPT = r'''
import inspect, os, sys
os.environ.pop("TRITON_INTERPRET", None)
import torch
import triton
from triton.runtime.jit import JITFunction
from vig_kernels import triton as tb
from vig_kernels.triton import launch as la

log = []

def rec(a):
    if isinstance(a, torch.Tensor):
        return ("T", a.dtype, tuple(a.shape), a.stride(), a.storage_offset(), a.data_ptr() % 16 == 0)
    return (type(a).__name__, a)

class Fake:  # a CompiledKernel as JITFunction.run returns it (its launcher records the call)
    def __init__(self, name):
        self.function, self.packed_metadata = ("fn", name), ("pm", name)
    def run(self, g0, g1, g2, stream, function, packed, meta, enter, exit_, *args):
        assert function == self.function and packed == self.packed_metadata and stream == 77
        assert meta is None and enter is None and exit_ is None
        log.append(("direct", function[1], (g0, g1, g2), [rec(a) for a in args]))

def fake_run(self, *args, grid, warmup, **kwargs):  # Triton's binding: every parameter, in order
    names = list(inspect.signature(self.fn).parameters)
    b = inspect.signature(self.fn).bind(*args, **{k: v for k, v in kwargs.items() if k in names})
    b.apply_defaults()
    g = tuple(grid) + (1,) * (3 - len(grid))
    log.append(("jit", self.fn.__name__, g, [rec(a) for a in b.arguments.values()]))
    return Fake(self.fn.__name__)

la._check_triton()  # the installed Triton's run (before it is replaced below)
JITFunction.run = fake_run
torch.cuda.current_device = lambda: 0
torch._C._cuda_getCurrentRawStream = lambda dev: 77
be = tb.TritonBackend()

def calls(mode, L, dtype):
    os.environ["VIG_TRITON_LAUNCH"] = mode
    tb.reload_knobs()
    B, H, K, V = 2, 3, 32, 64
    g = torch.Generator().manual_seed(L)
    q, k = (torch.randn(B, L, H, K, generator=g).to(dtype) for _ in range(2))
    v, do = (torch.randn(B, L, H, V, generator=g).to(dtype) for _ in range(2))
    gf, gb = (-torch.rand(B, L, H, K, generator=g) for _ in range(2))
    out = []
    for _ in range(3):  # the first call of a key misses, the next two hit
        del log[:]
        o = torch.empty(B, L, H, V, dtype=dtype)
        be._fwd(q, k, v, gf, gb, o, 0.17)
        be._bwd(q, k, v, gf, gb, do, 0.17)
        out.append(list(log))
    return out

SPLIT = {"VIG_TRITON_SPLIT_BWD": "1", "VIG_TRITON_FO_BWD": "1"}
for L, dtype, env in ((196, torch.bfloat16, {}), (2000, torch.bfloat16, {}), (300, torch.float32, {}),
                      (197, torch.bfloat16, SPLIT), (3000, torch.bfloat16, SPLIT)):
    for key in SPLIT:
        os.environ.pop(key, None)
    os.environ.update(env)
    ref = calls("jit", L, dtype)
    la.stats.update(hit=0, miss=0)
    got = calls("direct", L, dtype)
    n = len(ref[0])
    assert n >= 2 and all(len(x) == n for x in ref + got), (n, [len(x) for x in got])
    assert [c[0] for c in got[0]] == ["jit"] * n, got[0]
    assert all(c[0] == "direct" for c in got[1] + got[2])
    for r, d in zip(ref[0], got[1]):
        # tensors: same dtype / shape / strides / offset / alignment; ints, floats, strings: same values
        assert r[1:] == d[1:], (r, d)
    assert la.stats["miss"] == n and la.stats["hit"] == 2 * n, la.stats
    if env:  # the split + FO: 4 launches of grid (B*H, NS)
        assert [c[2][2] for c in got[1] if c[1] == "bigla_bwd_dir_dx_kernel"] == [1] * 4, got[1]
    print("ok", L, dtype, env, n, "launches", la.stats)
print("direct launch: all ok")
'''


def test_direct_launch_passes_what_triton_passes(tmp_path):
    """VIG_TRITON_LAUNCH=direct (launch.py; NOTES.md v2.7), on a machine without a GPU: with
    JITFunction.run replaced by a recorder that binds the arguments as Triton does (every
    parameter in signature order, constexprs and defaults included) and returns a fake
    CompiledKernel, the backend's forward and backward (L 196 unsegmented, L 2000 segmented,
    bf16 and fp32; and the split backward with FO at L 197 / 3000) miss once per kernel and then launch directly with exactly the arguments,
    grid and order Triton's own launch receives. Also checks that the installed Triton's
    JITFunction.run has the calling convention launch.py relies on."""
    script = tmp_path / "direct.py"
    script.write_text(_DIRECT_LAUNCH_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "direct launch: all ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("knobs", [{},
                                   {"VIG_TRITON_LAUNCH": "jit", "VIG_TRITON_GRADBUF": "0",
                                    "VIG_TRITON_DOT_FWD": "tf32"}])
def test_v27_switches(knobs, monkeypatch):
    """The v2.7 defaults (direct launch, GRADBUF=1, bf16 forward dot operands; knobs {}) and the
    previous defaults (LAUNCH=jit, GRADBUF=0, DOT_FWD=tf32) against the float64 oracle,
    segmented (the interpreter cuts 3 segments; on a GPU VIG_TRITON_SEGMENT=3 forces them) and,
    on a GPU, a second call (the direct launch's cache hits; the interpreter always launches
    normally)."""
    _segmented_parity(monkeypatch, knobs, seed=7, label="v2.7", calls=2)


def test_dx_kernels_compile_for_sm90(tmp_path):
    """v2.8 (NOTES.md v2.8; the only main kernels since session 9): the derived-exp forward and
    backward without compact scratch (CS = 0: VIG_TRITON_CS_BWD=0; CS is on by default since
    session 8) compile for sm_90 with the shipped dot precisions and launch options; bf16 here, for
    CI time (`compile_check --dx 90` builds the three dtypes; the shipped forward's three dtypes are
    test_triton_kernels_compile_for_sm90_and_sm80's)."""
    rc, ok, out = _compile_sm90(tmp_path, "--dx", bf16_only=True)
    from vig_kernels.triton.compile_check import _dx_specs

    assert len(_dx_specs()) == 6
    assert rc == 0 and ok == 2, out


@pytest.mark.parametrize("regime", ["neg_inf", "model"])
def test_dx_switches(regime, monkeypatch):
    """The derived-exp kernels (VIG_TRITON_DX_FWD=1 VIG_TRITON_DX_BWD=1: still accepted, the only
    kernels since session 9) against the float64 oracle, segmented (3 segments), all five
    gradients: "neg_inf" mixes fast-path and exact-path chunks (the exact path keeps the direct
    sums), "model" runs every chunk on the fast path (the derived exps)."""
    _segmented_parity(monkeypatch, {"VIG_TRITON_DX_FWD": "1", "VIG_TRITON_DX_BWD": "1"}, seed=11,
                      label="v2.8", regime=regime)


def test_fo_kernels_compile_for_sm90(tmp_path):
    """v2.9 (opt-in VIG_TRITON_FO_FWD / VIG_TRITON_FO_BWD = 1; NOTES.md v2.9): the fast-only (MODE 1)
    and exact-capable (MODE 2) launches of the split forward and backward kernels compile for
    sm_90 (bf16 here, for CI time: `compile_check --fo 90` builds the three dtypes), with the
    shipped kernels' dot precisions and launch options."""
    rc, ok, out = _compile_sm90(tmp_path, "--fo", bf16_only=True)
    from vig_kernels.triton.compile_check import _fo_specs

    assert len(_fo_specs()) == 12
    assert rc == 0 and ok == 4, out


def _plant(gf, gb):
    """Head 1 only: a -inf forward gate at tokens 60..63, strong backward gates at 66..69 (the
    middle segment) and -inf backward gates at 110..113 (the last segment: a backward-direction
    flag alone); those chunks fail the fast-path test; head 0 keeps the model regime."""
    gf[0, 60:64, 1, :4] = float("-inf")
    gb[0, 66:70, 1, 3:9] = -30.0
    gb[0, 110:114, 1, 20:22] = float("-inf")


@pytest.mark.parametrize("regime", ["model", "planted", "neg_inf"])
def test_fo_switches(regime, monkeypatch):
    """The fast-only / exact split (VIG_TRITON_FO_FWD=1 VIG_TRITON_FO_BWD=1) against the float64
    oracle, segmented (3 segments), all five gradients: "model" (every program fast: MODE 2 does
    nothing), "planted" (head 1 has exact-path chunks in one segment: those programs are flagged
    by MODE 1 and redone by MODE 2, the rest are not; both flag values must occur in each
    direction of the pass), "neg_inf" (exact-path chunks everywhere)."""
    from vig_kernels import triton as tb

    flags = []
    kern = tb._kern

    def spy(fn, grid):
        launch = kern(fn, grid)

        def run(*a, **kw):
            out = launch(*a, **kw)
            if kw.get("MODE") == 2:  # the flags MODE 1 wrote (the launches are stream-ordered)
                flags.append((fn.__name__, a[11 if "fwd" in fn.__name__ else 20].clone().cpu()))
            return out
        return run

    monkeypatch.setattr(tb, "_kern", spy)
    _segmented_parity(monkeypatch, {"VIG_TRITON_FO_FWD": "1", "VIG_TRITON_FO_BWD": "1"}, seed=13,
                      label="v2.9", regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)
    assert sorted(n for n, _ in flags) == ["bigla_bwd_dx_kernel", "bigla_fwd_dx_kernel"], flags
    for name, fl in flags:
        seen = set(fl.tolist())
        want = {"model": {0}, "planted": {0, 1}, "neg_inf": {1}}[regime]
        assert seen == want, (name, regime, fl.tolist())


def test_cs_kernels_compile_for_sm90(tmp_path):
    """Session 7 (VIG_TRITON_CS_BWD, on by default since session 8; NOTES.md "Session 7 (CS, CB32)"): the
    derived-exp backward with compact scratch (CS = 1) compiles for sm_90 in MODE 0 and MODE 1 (FO's
    fast-only launch); bf16 here, for CI time (`compile_check --cs 90` builds the three dtypes; MODE 0's
    three dtypes, the shipped backward, are test_triton_kernels_compile_for_sm90_and_sm80's)."""
    rc, ok, out = _compile_sm90(tmp_path, "--cs", bf16_only=True)
    from vig_kernels.triton.compile_check import _cs_specs

    assert len(_cs_specs()) == 6
    assert rc == 0 and ok == 2, out


@pytest.mark.parametrize("path,regime", [("DX", "neg_inf"), ("DX", "model"), ("FO", "planted")])
def test_cs_switch(path, regime, monkeypatch):
    """Compact scratch (VIG_TRITON_CS_BWD=1) in the derived-exp backward against the float64
    oracle, segmented (3 segments), all five gradients, with DX (MODE 0: "neg_inf" mixes fast and
    exact chunks, "model" is all fast) and with FO (MODE 1 then 2; "planted": some programs
    flagged and redone)."""
    knobs = {f"VIG_TRITON_{path}_FWD": "1", f"VIG_TRITON_{path}_BWD": "1", "VIG_TRITON_CS_BWD": "1"}
    _segmented_parity(monkeypatch, knobs, seed=17, label="cs",
                      regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)


def _same_in_interpreter(monkeypatch, envs, seed, regime, plant=False):
    """The op's output and five gradients under each environment of ``envs`` (knob dicts), in the
    interpreter (no FMA contraction) on one bf16 case at L = 130 (3 segments): all equal bit for bit,
    finite and nonzero."""
    import torch
    import vig
    from vig_kernels import triton as tb

    from .parity import run_with_grads
    from .strategies import Case, make_inputs

    if vig.available_backends()["triton"] or torch.cuda.is_available():
        pytest.skip("interpreter only")
    case = Case(B=1, L=130, H=2, K=32, V=64, dtype="bfloat16", regime=regime, layout="fused",
                gate_dtype="float32", seed=seed)
    q, k, v, gf, gb, do = make_inputs(case, "cpu")
    if plant:
        _plant(gf, gb)  # some exact-path chunks too
    outs = []
    for env in envs:
        for key, val in env.items():
            monkeypatch.setenv(key, val)
        tb.reload_knobs()
        try:
            outs.append(run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="triton"),
                                       (q, k, v, gf, gb), do))
        finally:
            monkeypatch.undo()
            tb.reload_knobs()
    a = outs[0]
    assert len(a) == 6
    for b in outs[1:]:
        assert len(b) == 6
        for name, x, y in zip(("o", "dq", "dk", "dv", "dgf", "dgb"), a, b):
            assert torch.isfinite(x).all() and x.abs().max() > 0, name
            assert torch.equal(x, y), (name, (x.float() - y.float()).abs().max())


def test_cs_same_values_in_the_interpreter(monkeypatch):
    """CS = 1 rebuilds the reverse sweep's partials with the same operations in the same order,
    so in the interpreter (no FMA contraction) its gradients equal v2.8's bit for bit (on a GPU
    ptxas may contract differently: there the oracle test above is the judge)."""
    dx = {"VIG_TRITON_DX_FWD": "1", "VIG_TRITON_DX_BWD": "1"}
    _same_in_interpreter(monkeypatch, [{**dx, "VIG_TRITON_CS_BWD": cs} for cs in ("0", "1")], seed=19,
                         regime="model", plant=True)


def _spy_launches(monkeypatch, record):
    """Wraps the backend's launcher: every launch appends record(fn, grid, kw) to the returned list."""
    from vig_kernels import triton as tb

    seen = []
    kern = tb._kern

    def spy(fn, grid):
        launch = kern(fn, grid)

        def run(*a, **kw):
            seen.append(record(fn, grid, kw))
            return launch(*a, **kw)
        return run

    monkeypatch.setattr(tb, "_kern", spy)
    return seen


@pytest.mark.parametrize("path,regime", [("FO", "model"), ("FO", "planted"), ("DX", "neg_inf")])
def test_cb32_switch(path, regime, monkeypatch):
    """The derived-exp backward on 32-token chunks (VIG_TRITON_CHUNK_BWD=32, with 8 warps as it
    is meant to run; NOTES.md "Session 7 (CS, CB32)") against the float64 oracle, segmented (2
    segments of 96 tokens at L 130), all five gradients, with compact scratch: FO "model" (every
    chunk fast), FO "planted" (flagged programs redone by MODE 2 at C 32), DX "neg_inf" (the exact
    path's 32-key loop)."""
    knobs = {f"VIG_TRITON_{path}_FWD": "1", f"VIG_TRITON_{path}_BWD": "1", "VIG_TRITON_CS_BWD": "1",
             "VIG_TRITON_CHUNK_BWD": "32", "VIG_TRITON_WARPS_BWD": "8"}
    _segmented_parity(monkeypatch, knobs, seed=23, label="cb32",
                      regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)


def test_split_kernels_compile_for_sm90(tmp_path):
    """Session 8 (opt-in VIG_TRITON_SPLIT_BWD=1; NOTES.md "Session 8 (SPLIT)"): the backward split
    by direction (bigla_bwd_dir_dx_kernel, DIR 0 and DIR 1; MODE 0, and MODE 1 / 2 for
    VIG_TRITON_FO_BWD=1) compiles for sm_90 (bf16 here, for CI time: `compile_check --split 90`
    builds the three dtypes)."""
    rc, ok, out = _compile_sm90(tmp_path, "--split", bf16_only=True)
    from vig_kernels.triton.compile_check import _split_specs

    assert len(_split_specs()) == 18
    assert rc == 0 and ok == 6, out


@pytest.mark.parametrize("regime,segs,fo", [("neg_inf", "3", "0"), ("model", "3", "0"),
                                            ("planted", "3", "0"), ("planted", "1", "0"),
                                            ("planted", "3", "1"), ("neg_inf", "1", "1")])
def test_split_switch(regime, segs, fo, monkeypatch):
    """The backward split by direction (VIG_TRITON_SPLIT_BWD=1, two launches meeting through the
    fp32 scratch; each gate gradient final in its own direction's program, dgf as a suffix sum with
    the next segment's carry) against the float64 oracle, all five gradients: 3 segments ("neg_inf"
    mixes fast and exact chunks, "model" is all fast, "planted" exact chunks in some programs only)
    and one segment ("planted": no carries, no entering states); with VIG_TRITON_FO_BWD=1 (fo "1":
    each direction fast-only, then the flagged programs redone) on "planted" (some programs
    flagged, in one direction or both) and "neg_inf" (every program flagged)."""
    knobs = {"VIG_TRITON_SPLIT_BWD": "1", "VIG_TRITON_SEGMENT": segs, "VIG_TRITON_FO_BWD": fo}
    _segmented_parity(monkeypatch, knobs, seed=29, label="split",
                      regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)


def _removed_switch_raises(monkeypatch, env, match, seed, in_backward):
    """A refused switch value (one that selected a removed kernel path, or no valid value) raises a
    ValueError matching `match`: in the forward, or (in_backward) in the backward after a forward that
    ran (finite, nonzero output)."""
    import torch
    import vig
    from vig_kernels import triton as tb

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(1, 20, 2, 32, generator=g).to(dev) for _ in range(2))
    v = torch.randn(1, 20, 2, 64, generator=g).to(dev)
    gf, gb = (-torch.rand(1, 20, 2, 32, generator=g).to(dev) for _ in range(2))
    leaves = [t.requires_grad_() for t in (q, k, v, gf, gb)]
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    tb.reload_knobs()
    try:
        if in_backward:
            o = vig.bidirectional_gla(*leaves, backend="triton")
            assert torch.isfinite(o).all() and o.abs().max() > 0
            with pytest.raises(ValueError, match=match):
                o.sum().backward()
        else:
            with pytest.raises(ValueError, match=match):
                vig.bidirectional_gla(*leaves, backend="triton")
    finally:
        monkeypatch.undo()
        tb.reload_knobs()


@pytest.mark.parametrize("which", ["FWD", "BWD"])
def test_removed_dx_switch_raises(which, monkeypatch):
    """Session 9: v2.2's kernels are gone; VIG_TRITON_DX_FWD / _BWD = 0 (which selected them) raises
    a ValueError naming the switch in the pass it governs, instead of running the derived-exp
    kernels silently; the other pass and the value 1 still run."""
    _removed_switch_raises(monkeypatch, {f"VIG_TRITON_DX_{'BWD' if which == 'FWD' else 'FWD'}": "1",
                                         f"VIG_TRITON_DX_{which}": "0"},
                           f"VIG_TRITON_DX_{which}='0': the switch was removed", seed=31,
                           in_backward=which == "BWD")


def test_split_auto_rule(monkeypatch):
    """Session 9 (VIG_TRITON_SPLIT_BWD=auto; __init__.py's rule): with the launcher's own segment
    choice on a GPU (132 SMs, H100), the split (+ FO + cap 168) is taken at the three 224 px contract
    shapes, where session 8's final call measured it faster (graphed), and DX + CS at the two 1024 px
    shapes, where it measured slower; a launch of at most one DX round keeps DX; the switch's
    values."""
    from vig import bench
    from vig_kernels import triton as tb

    monkeypatch.setattr(tb, "_interpreting", lambda: False)
    for key in ("VIG_TRITON_SEGMENT", "VIG_TRITON_SEG_MIN_L", "VIG_TRITON_SEG_MIN_L_BWD",
                "VIG_TRITON_CHUNK_BWD", "VIG_TRITON_SPLIT_SMS", "VIG_TRITON_SPLIT_BWD"):
        monkeypatch.delenv(key, raising=False)
    tb.reload_knobs()
    try:
        got = {}
        for name, (B, H, L, _, _) in bench.SHAPES.items():
            NS, _ = tb._segments(B * H, L, unit=tb._chunk_bwd(), bwd=True)
            got[name] = (B * H * NS, tb._split_auto(B * H * NS, 132))
        assert got == {"ViG-T@224": (384, True), "ViG-S@224": (768, True), "ViG-B@224": (1536, True),
                       "ViG-T@1024": (528, False), "ViG-S@1024": (528, False)}, got
        assert not tb._split_auto(264, 132) and not tb._split_auto(1, 132)
        assert tb._split_mode() == "auto"  # the shipped default since session 10 (SPLIT["BWD"] "auto")
        for val, want in (("auto", "auto"), ("1", "1"), ("0", "0")):
            monkeypatch.setenv("VIG_TRITON_SPLIT_BWD", val)
            tb.reload_knobs()
            assert tb._split_mode() == want
        monkeypatch.setenv("VIG_TRITON_SPLIT_BWD", "yes")
        tb.reload_knobs()
        with pytest.raises(ValueError, match="VIG_TRITON_SPLIT_BWD"):
            tb._split_mode()
    finally:
        monkeypatch.undo()
        tb.reload_knobs()


@pytest.mark.parametrize("sms,regime", [("1", "planted"), ("132", "neg_inf")])
def test_split_auto_switch(sms, regime, monkeypatch):
    """VIG_TRITON_SPLIT_BWD=auto against the float64 oracle, segmented (3 segments, B*H*NS = 6
    programs), all five gradients, and the launches it makes: with the rule told of 1 SM (3 DX rounds against 2 x 2 split
    rounds) it takes the split with FO (each direction MODE 1 then 2;
    "planted": some programs flagged and redone); with 132 SMs (one DX round) the DX backward
    (one MODE 0 launch, compact scratch)."""
    seen = _spy_launches(monkeypatch, lambda fn, grid, kw: (fn.__name__, kw.get("DIR"), kw.get("MODE"),
                                                          kw.get("CS")))
    _segmented_parity(monkeypatch, {"VIG_TRITON_SPLIT_BWD": "auto", "VIG_TRITON_SPLIT_SMS": sms},
                      seed=37, label="split-auto", regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)
    bwd = [x for x in seen if x[0] in ("bigla_bwd_dx_kernel", "bigla_bwd_dir_dx_kernel")]
    if sms == "1":
        assert bwd == [("bigla_bwd_dir_dx_kernel", d, m, None) for d in (0, 1) for m in (1, 2)], seen
    else:
        assert bwd == [("bigla_bwd_dx_kernel", None, 0, 1)], seen


@pytest.mark.parametrize("val", ["1", "0"])
def test_removed_dv_switch_raises(val, monkeypatch):
    """Session 9: the split's separate dv sweep (VIG_TRITON_DV_SPLIT=1) was removed after the GPU
    (slower; git history at fdf897e): the value 1 raises a ValueError naming the switch in the
    backward (the forward still runs), 0 runs the split as before (against the float64 oracle)."""
    import vig

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    if val == "0":
        _segmented_parity(monkeypatch, {"VIG_TRITON_SPLIT_BWD": "1", "VIG_TRITON_DV_SPLIT": "0",
                                        "VIG_TRITON_SEGMENT": "1"}, seed=41, label="dv0")
        return
    _removed_switch_raises(monkeypatch, {"VIG_TRITON_SPLIT_BWD": "1", "VIG_TRITON_DV_SPLIT": "1"},
                           "VIG_TRITON_DV_SPLIT='1': the switch was removed", seed=41, in_backward=True)


@pytest.mark.parametrize("regime,split", [("neg_inf", "0"), ("planted", "0"), ("neg_inf", "1")])
def test_keep_states_switch(regime, split, monkeypatch):
    """Session 10 (VIG_TRITON_KEEP_STATES=1, the default since): the forward keeps its segment-local
    key-side states and the DX backward's segment-state kernel runs only its query-side programs
    (grid (B*H, NS, 1), W0 = 1), against the float64 oracle, segmented (3 segments), all five
    gradients; under the split backward (VIG_TRITON_SPLIT_BWD=1) the states are recomputed (grid
    (B*H, NS, 2), W0 = 0: that combination has no GPU proof yet); a value other than 0 / 1 raises
    naming the switch."""
    import vig

    if vig.available_backends()["triton"]:
        pytest.skip(vig.available_backends()["triton"])
    seen = _spy_launches(monkeypatch, lambda fn, grid, kw: (fn.__name__, tuple(grid), kw.get("W0", 0)))
    _segmented_parity(monkeypatch, {"VIG_TRITON_KEEP_STATES": "1", "VIG_TRITON_SPLIT_BWD": split}, seed=43,
                      label="keep-states", regime="model" if regime == "planted" else regime,
                      edit=_plant if regime == "planted" else None)
    want = (1, 1) if split == "0" else (2, 0)  # (grid z, W0)
    st = [(grid[2], w0) for name, grid, w0 in seen if name == "bigla_bwd_segstate2_kernel"]
    assert st and all(x == want for x in st), seen
    _removed_switch_raises(monkeypatch, {"VIG_TRITON_KEEP_STATES": "yes"},
                           re.escape("VIG_TRITON_KEEP_STATES='yes': expected one of '0', '1' (or empty)"), seed=43, in_backward=False)


def test_keep_states_same_values_in_the_interpreter(monkeypatch):
    """KEEP_STATES = 1 hands the backward the forward's Hf, Hb, Tf, Tb, computed by the same
    function of the same inputs as the backward's own w = 0 programs: in the interpreter the
    outputs and all five gradients equal those of KEEP_STATES = 0 bit for bit (on a GPU the two
    kernels may contract differently: there the oracle test above is the judge)."""
    _same_in_interpreter(monkeypatch, [{"VIG_TRITON_KEEP_STATES": ks} for ks in ("0", "1")], seed=47,
                         regime="neg_inf")


def test_removed_state_chunk_switch_raises(monkeypatch):
    """Session 10: the segment-state kernels on 32- / 64-token chunks (VIG_TRITON_STATE_CHUNK) were
    slower on the H100 and removed (git history at 0ebdad3): a value other than 16 raises in the
    forward, naming the switch."""
    _removed_switch_raises(monkeypatch, {"VIG_TRITON_STATE_CHUNK": "64"},
                           "VIG_TRITON_STATE_CHUNK='64': the switch was removed", seed=53, in_backward=False)


def test_ftz_switch_compiles_ftz_exps(tmp_path):
    """Session 11 (VIG_TRITON_FTZ, on by default since its MID call): with the switch unset every exp of the
    derived-exp forward and backward (bf16, sm_90, as launched) is ex2.approx.ftz.f32 and none is the plain
    ex2.approx.f32 (whose denormal range guard ptxas spells out on sm_90); with "0", the reverse (tl.exp's code,
    the previous kernels'), and the same number of ex2 either way. Compile-only, one fresh process and Triton
    cache per setting, run in parallel."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "VIG_TRITON_FTZ")}
    env["VIG_CC_BF16_ONLY"] = "1"
    procs = {}
    for val in ("", "0"):
        e = dict(env, TRITON_CACHE_DIR=str(tmp_path / f"cache{val or 'default'}"))
        if val:
            e["VIG_TRITON_FTZ"] = val
        procs[val] = subprocess.Popen(
            [sys.executable, "-m", "vig_kernels.triton.compile_check", "--dx", "--dump",
             str(tmp_path / f"dump{val or 'default'}"), "90"],
            env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    counts = {}
    for val, p in procs.items():
        out, _ = p.communicate(timeout=1200)
        assert p.returncode == 0 and out.count("ok   ") == 2, out
        for kind in ("fwdx", "bwdx"):
            ptx = (tmp_path / f"dump{val or 'default'}" / f"{kind}-sm90-bf16.ptx").read_text()
            counts[val, kind] = (ptx.count("ex2.approx.ftz.f32"), ptx.count("ex2.approx.f32"))
    for kind in ("fwdx", "bwdx"):
        (on_ftz, on_plain), (off_ftz, off_plain) = counts["", kind], counts["0", kind]
        assert on_ftz > 0 and on_plain == 0, counts
        assert off_ftz == 0 and off_plain > 0, counts
        assert on_ftz == off_plain, counts


_FTZ_RUN = """
import torch, vig
g = torch.Generator().manual_seed(59)
q, k = (torch.randn(1, 20, 2, 32, generator=g) for _ in range(2))
v = torch.randn(1, 20, 2, 64, generator=g)
gf, gb = (-torch.rand(1, 20, 2, 32, generator=g) for _ in range(2))
try:
    o = vig.bidirectional_gla(q, k, v, gf, gb, backend="triton")
except ValueError as exc:
    print("RAISED", exc)
else:
    print("RAN", bool(torch.isfinite(o).all()))
"""


@pytest.mark.parametrize("val,want", [("2", "RAISED VIG_TRITON_FTZ='2': expected one of '0', '1' (or empty)"),
                                      ("1", "RAISED VIG_TRITON_FTZ=1: the ftz exp is inline PTX"),
                                      ("0", "RAN True"), ("", "RAN True")])
def test_ftz_switch_values(val, want):
    """Session 11: VIG_TRITON_FTZ accepts "0" (off), "1" and unset / "" (on: the default); any other value
    raises a ValueError naming the switch; an explicit "1" raises in the interpreter (TRITON_INTERPRET=1: no
    inline PTX there) at launch instead of running tl.exp, while the default runs tl.exp there (the
    documented interpreter behaviour). A fresh interpreter process per value."""
    env = dict(os.environ, TRITON_INTERPRET="1", VIG_TRITON_FTZ=val)
    r = subprocess.run([sys.executable, "-c", _FTZ_RUN], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and want in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("name,bad,call", [
    ("VIG_TRITON_DOT_FWD", "fp8", lambda tb, torch: tb._dot_prec("FWD", torch.bfloat16)),
    ("VIG_TRITON_SPLIT_BWD", "yes", lambda tb, torch: tb._split_mode()),
    ("VIG_TRITON_CHUNK_BWD", "64", lambda tb, torch: tb._chunk_bwd()),
    ("VIG_TRITON_BSEG", "v9", lambda tb, torch: tb._bseg_mode()),
    ("VIG_TRITON_KEEP_STATES", "2", lambda tb, torch: tb._keep_states()),
    ("VIG_TRITON_FTZ", "on", lambda tb, torch: tb._ftz()),
    ("VIG_TRITON_LAUNCH", "jitt", lambda tb, torch: tb._launch_mode()),
    ("VIG_TRITON_WARPS_FWD", "3", lambda tb, torch: tb._warps("FWD")),
    ("VIG_TRITON_WARPS_SPLIT", "four", lambda tb, torch: tb._split_opts(torch.bfloat16)),
    ("VIG_TRITON_STAGES_BWD", "0", lambda tb, torch: tb._stages("BWD")),
    ("VIG_TRITON_FSCAN", "2", lambda tb, torch: tb._fscan()),
    ("VIG_TRITON_FPIPE", "x", lambda tb, torch: tb._fpipe(2)),
    ("VIG_TRITON_GRADBUF", "yes", lambda tb, torch: tb._gradbuf()),
    ("VIG_TRITON_SPLIT_SMS", "0", lambda tb, torch: tb._sms(torch.device("cpu"))),
    ("VIG_TRITON_SEGMENT", "three", lambda tb, torch: tb._segments(6, 300)),
    ("VIG_TRITON_SEG_MIN_L", "1e3", lambda tb, torch: tb._segments(6, 300)),
])
def test_switch_values_go_through_knobs(monkeypatch, name, bad, call):
    """Each of Triton's value and count switches is read through vig.backend.Knobs (choice / multiple): an unknown
    value raises a ValueError naming the variable and what it takes (before: int()'s message without the name, or
    any nonzero integer taken as "on"); the empty value is accepted (it means the module's default)."""
    import torch
    from vig_kernels import triton as tb

    try:
        monkeypatch.setenv(name, bad)
        tb.reload_knobs()
        with pytest.raises(ValueError, match=f"^{name}={bad!r}: expected (one of .*|a multiple of .*) \\(or empty\\)$"):
            call(tb, torch)
        monkeypatch.setenv(name, "")
        tb.reload_knobs()
        call(tb, torch)
    finally:
        monkeypatch.delenv(name)
        tb.reload_knobs()
