"""Development only: timings of the CuPy backend's kernel variants at the contract's shapes, on one
card in one process (no fla), with output / gradient diffs between the variants and the peak extra
memory of forward + backward.

    python kernels/cupy/dev_bench.py [fwd kinds, comma-separated] [bwd kinds]

fwd kinds: "chunked" (v2.3 tiles, serial scan), "chunkedb" (v2.3 tiles, batched scan), "v26"
(v2.6 tiles + batched scan), "recurrent"; bwd kinds (each sets every switch, the forward included):
"chunked" (v2.3 backward), "recurrent", "chunked-short" (chunked for L <= 256 only,
VIG_CUPY_BWD_LONG=0), "v24" / "v25" (the v2.4 / v2.5 backward, v2.3 forward, serial scan), "v25s"
(v2.5 with VIG_CUPY_SAVE_STATES=1), "v25b" (v2.5 with the batched scan), "v26" / "v26p" (the v2.6
backwards with the v2.6 forward and the batched scan), "v26s" / "v26ps" (those with saved states).
(Session 5's "v27s" / "v28s" kinds went with the v2.7 / v2.8 backwards: commits 5167f70, cf18f0b.)
A kind "NAME@N" runs NAME with segments of at most N tokens (TC_MAX_SEG = TC_BWD_SEG = N, set in
this process for that kind only; 224-px shapes then take the segmented path too when N < 196).
Modifiers (session 5), appended to a kind: "+L" VIG_CUPY_LAUNCH=plan (the plan launcher; without it
every kind runs the legacy launcher), "+Q" VIG_CUPY_SEG128=1 (the 128-token planner rule); both
are the backend's defaults since session 5, so "NAME+Q+L" is what ships and "NAME" the old path. A kind
"X+L" must match the kind "X" bit for bit (same kernels): its max diff against X is checked, the
exit status is 1 on a mismatch. Each line also gives the host time to enqueue one call ("host",
us: mean of 50 calls without synchronization, as tools/profile_op.py).
Optional third argument: the shapes to run, comma-separated, in that order (default: all)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

import vig  # noqa: E402
from vig import bench  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402

_OLDF = dict(VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="serial")
_NEWF = dict(VIG_CUPY_FWD="v26", VIG_CUPY_SCAN="batched")
FWD_ENV = {"chunked": _OLDF,
           "chunkedb": dict(VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="batched"),
           "v26": _NEWF,
           "recurrent": dict(VIG_CUPY_FWD="recurrent")}
_NS = dict(VIG_CUPY_SAVE_STATES="0")
_SS = dict(VIG_CUPY_SAVE_STATES="1")
BWD_ENV = {"chunked": dict(VIG_CUPY_BWD="chunked", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "recurrent": dict(VIG_CUPY_BWD="recurrent", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "chunked-short": dict(VIG_CUPY_BWD="chunked", VIG_CUPY_BWD_LONG="0", **_NS, **_OLDF),
           "v24": dict(VIG_CUPY_BWD="v24", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "v25": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           # v25 with the forward's segment states kept for the backward (1024 px: 2 launches less)
           "v25s": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_SS, **_OLDF),
           "v25b": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_NS,
                        VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="batched"),
           "v26": dict(VIG_CUPY_BWD="v26", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v26p": dict(VIG_CUPY_BWD="v26p", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v26s": dict(VIG_CUPY_BWD="v26", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           "v26ps": dict(VIG_CUPY_BWD="v26p", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF)}


_SEG0 = (cp.TC_MAX_SEG, cp.TC_BWD_SEG)


def setenv(d):
    """Switch kernels: the backend reads its VIG_CUPY_* switches once, reload_env() re-reads them."""
    os.environ.update(d)
    cp.reload_env()


_MODS = {"L": dict(VIG_CUPY_LAUNCH="plan"), "Q": dict(VIG_CUPY_SEG128="1")}


def use(table, kind):
    """Set the switches of ``kind`` ("NAME[+L][+Q]" or "NAME@N": segments of at most N tokens)."""
    name, _, seg = kind.partition("@")
    name, *mods = name.split("+")
    env = dict(VIG_CUPY_LAUNCH="legacy", VIG_CUPY_SEG128="0", **table[name])
    for m in mods:
        env.update(_MODS[m])
    setenv(env)
    cp.TC_MAX_SEG, cp.TC_BWD_SEG = (int(seg), int(seg)) if seg else _SEG0


def op(*a):
    return vig.bidirectional_gla(*a, backend="cupy", check_gates=False)


def _diff(a, b):
    return (a.float() - b.float()).abs().max().item(), a.float().abs().max().item()


BAD = []


def _twin(kind, done):
    """The legacy-launcher twin of a "+L" kind, when it ran already."""
    if "+L" not in kind:
        return None
    t = kind.replace("+L", "")
    return t if t in done else None


def main():
    fwd_kinds = (sys.argv[1] if len(sys.argv) > 1 else "chunked,recurrent").split(",")
    bwd_kinds = (sys.argv[2] if len(sys.argv) > 2 else "chunked,chunked-short").split(",")
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else list(bench.SHAPES)
    print("device:", bench.device_name(), flush=True)
    for name in names:
        shape = bench.OpShape(*bench.SHAPES[name])
        inputs, _ = bench.make_inputs(shape, "cuda")
        fl, flb = bench.floor_ms(shape), bench.floor_ms(shape, True)
        outs = {}
        for kind in fwd_kinds:
            use(FWD_ENV, kind)
            f = lambda: op(*inputs)  # noqa: E731
            e = bench.median_ms(f)
            with torch.no_grad():
                g = bench.median_ms(bench.graphed(f))
            with torch.no_grad():
                h = bench.host_us(f)
            outs[kind] = f()
            d, m = _diff(outs[kind], outs[fwd_kinds[0]])
            tw = _twin(kind, outs)
            same = ""
            if tw is not None:
                dt = _diff(outs[kind], outs[tw])[0]
                same = f"  vs {tw}: {'BITEXACT' if dt == 0 else 'MISMATCH'} {dt:.1e}"
                if dt != 0:
                    BAD.append((name, kind))
            print(f"{name:>11} fwd {kind:>10}: {e:.4f} ms (graphed {g:.4f}; host {h:.0f} us; "
                  f"{e / fl:.1f}x floor {fl:.4f})  max|o - o[{fwd_kinds[0]}]| {d:.2e} "
                  f"(|o| {m:.2f}){same}", flush=True)
        leaves = [t.detach().requires_grad_() for t in inputs]
        do = torch.randn_like(leaves[2])
        grads = {}
        for kind in bwd_kinds:
            use(BWD_ENV, kind)
            fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
            ms = bench.median_ms(fb)
            try:
                gms = bench.median_ms(bench.graphed(fb))
            except Exception as exc:  # report, keep the eager figures
                print(f"graphed f+b of {kind} failed: {type(exc).__name__}: {exc}", flush=True)
                gms = float("nan")
            h = bench.host_us(fb)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            grads[kind] = fb()
            torch.cuda.synchronize()
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            diffs = " ".join(f"{n} {d:.1e}/{m:.1e}" for n, (d, m) in zip(
                ("dq", "dk", "dv", "dgf", "dgb"),
                (_diff(a, b) for a, b in zip(grads[kind], grads[bwd_kinds[0]]))))
            tw = _twin(kind, grads)
            same = ""
            if tw is not None:
                dt = max(_diff(a, b)[0] for a, b in zip(grads[kind], grads[tw]))
                same = f"; vs {tw}: {'BITEXACT' if dt == 0 else 'MISMATCH'} {dt:.1e}"
                if dt != 0:
                    BAD.append((name, kind))
            print(f"{'':>11} f+b {kind:>13}: {ms:.4f} ms (graphed {gms:.4f}; host {h:.0f} us; "
                  f"{gms / flb:.1f}x floor {flb:.4f}), "
                  f"peak extra {peak:.0f} MiB; max diff/max vs {bwd_kinds[0]}: {diffs}{same}",
                  flush=True)
    use(BWD_ENV, "chunked")
    print(f"launcher bit-identity: {'MISMATCH ' + str(BAD) if BAD else 'all +L kinds BITEXACT'}",
          flush=True)
    if BAD:
        sys.exit(1)


if __name__ == "__main__":
    main()
