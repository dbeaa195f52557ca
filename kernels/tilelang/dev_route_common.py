"""What the CPU routing checks share (dev_seg_cpu.py, dev_views_cpu.py, dev_segsave_cpu.py, dev_segw_cpu.py; no
GPU, no compilation). Importing this module mocks vig_kernels.tilelang's compile_kernel (every launch appends
(kind, its tensor arguments) to ``log``) and _arch (sm_90a), and counts the copies Tensor.contiguous makes
(``copies``: the source shapes, ``copied``: the bytes written). ``run`` is one forward and backward through vig.ops'
autograd function on CPU tensors; ``Checks`` counts named checks. Imported from the scripts' own directory (run
them as .venv/bin/python kernels/tilelang/dev_<x>_cpu.py).

Pinned configurations (session 10 round 4): ``setenv`` first unsets EVERY VIG_TILELANG_* variable (the caller's
shell included), so a script checks exactly the configuration it names. The scripts build their environments on
``S10`` (every switch at the value shipped since session 10's flips, written out) or ``S9`` (the 1024-px path before
them); only rows that check "the shipped defaults" on purpose run with nothing set (``SHIPPED``), and their
expectations are literal: a later default flip makes those rows, and only those, fail."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from vig import bench  # noqa: E402
from vig.ops import _KernelFunction  # noqa: E402
import vig_kernels.tilelang as tlb  # noqa: E402

log = []
copies = []
copied = []


def fake(kind, K, V, dtype, arch):
    def launch(*args):
        log.append((kind, [a for a in args if isinstance(a, torch.Tensor)]))
    return launch


tlb.compile_kernel = fake
tlb._arch = lambda device: "sm_90a"
_contiguous = torch.Tensor.contiguous


def counting(self, *a, **kw):
    r = _contiguous(self, *a, **kw)
    if r.data_ptr() != self.data_ptr():
        copies.append(tuple(self.shape))
        copied.append(r.numel() * r.element_size())
    return r


torch.Tensor.contiguous = counting


#: every switch the routing scripts' expectations depend on, at the value shipped since session 10's flips (results/
#: 2026-12-06e-h100/callB: SEG_L 128, SEG_SAVE 1, SCAN_VEC 1, SEGW 1), written out rather than read from the *_DEFAULT
#: lines; the removed SEGST / FWD_WALK and the dev-only knobs stay unset
S10 = {"VIG_TILELANG_FWD": "v6s", "VIG_TILELANG_BWD": "v6", "VIG_TILELANG_LOWMEM": "1", "VIG_TILELANG_STRIDED": "0",
       "VIG_TILELANG_GRAD_EMPTY": "1", "VIG_TILELANG_FUSED_EXP": "ref3", "VIG_TILELANG_FWD_VIEWS": "2",
       "VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": "", "VIG_TILELANG_BWD_VIEWS": "2",
       "VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_SEG_SAVE": "1",
       "VIG_TILELANG_SCAN_VEC": "1", "VIG_TILELANG_SEGW": "1", "VIG_TILELANG_RACEFIX": "0", "VIG_TILELANG_FWD_TILE": "0",
       "VIG_TILELANG_SAVE224": "0"}
#: session 9's shipped configuration (before session 10's four flips): 224-token forward segments, fwd_segst:s2, the
#: plain fwd_scan, the backward recomputing both sides (bwd_segst)
S9 = {**S10, "VIG_TILELANG_SEG_L": "224", "VIG_TILELANG_SEG_SAVE": "0", "VIG_TILELANG_SCAN_VEC": "0",
      "VIG_TILELANG_SEGW": "0"}
#: nothing set: the *_DEFAULT lines of vig_kernels/tilelang/__init__.py (rows that check the shipped defaults)
SHIPPED = {}


def setenv(env):
    """Every VIG_TILELANG_* variable unset, then ``env`` set (a value None: left unset, i.e. its default); the
    backend re-reads them."""
    for key in [k for k in os.environ if k.startswith("VIG_TILELANG_")]:
        os.environ.pop(key)
    os.environ.update({k: v for k, v in env.items() if v is not None})
    tlb.reload_env()


def run(env, L, dt=torch.bfloat16, B=2, H=3, Kd=32, Vd=64, env_bwd=None):
    """Forward and backward of the bench's inputs (B, H, L, Kd, Vd) under ``env`` (the backward under ``env_bwd``
    if given): (forward launches, what the forward saved beyond the inputs, backward launches, forward copies,
    backward copies)."""
    setenv(env)
    leaves = [x.detach().requires_grad_() for x in bench.make_inputs(bench.OpShape(B, H, L, Kd, Vd), "cpu",
                                                                       dtype=dt)[0]]
    log.clear()
    copies.clear()
    o = _KernelFunction.apply(tlb.TileLangBackend(), Kd ** -0.5, *leaves)
    flog, fcp = list(log), len(copies)
    saved = o.grad_fn.saved_tensors[5:]
    if env_bwd is not None:
        setenv(env_bwd)
    log.clear()
    copies.clear()
    torch.autograd.grad(o, leaves, torch.randn_like(o))
    return flog, saved, list(log), fcp, len(copies)


def kinds(lg):
    return [kd for kd, _ in lg]


def sig(lg):
    return [[(tuple(t.shape), t.dtype) for t in ts] for _, ts in lg]


class Checks:
    """``check(name, ok, detail)`` prints one line per check and counts; ``done(script)`` prints the count and
    exits (1 if any failed)."""

    def __init__(self):
        self.n = self.bad = 0

    def __call__(self, name, ok, detail=""):
        self.n += 1
        self.bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}" + ("" if ok else f" <- {detail}"))

    def raises(self, name, var, fn):
        """fn() must raise a ValueError that names the switch ``var``."""
        try:
            fn()
            self(name, False, "accepted")
        except ValueError as e:
            self(name, var in str(e))

    def done(self, script):
        print(f"{script}: {self.n - self.bad}/{self.n} ok")
        sys.exit(1 if self.bad else 0)
