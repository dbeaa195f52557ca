"""How parity is judged (the op contract): a backend's error in dtype d, against the float64
oracle, may be at most twice the error of plain PyTorch run in that same dtype d, plus a small
absolute floor (the rule of FlashAttention's tests). For the output and every gradient."""
from __future__ import annotations

import torch

from vig_reference import chunked_bidirectional_gla, naive_bidirectional_gla

NAMES = ("o", "dq", "dk", "dv", "dg_fwd", "dg_bwd")
EPS = {torch.float32: 2.0 ** -23, torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7,
       torch.float64: 2.0 ** -52}


def run_with_grads(fn, inputs, do):
    """fn(*inputs) -> o; returns [o, dq, dk, dv, dg_fwd, dg_bwd] (detached). The inputs reach fn as they are, strides
    and storage offset included (``detach``, not ``clone``: a clone of a view with gaps between its rows, such as the
    "fused" layout's q, k, v and gates, is contiguous, and the kernels would never see the strides)."""
    xs = [x.detach().requires_grad_(True) for x in inputs]
    o = fn(*xs)
    o.backward(do)
    return [o.detach()] + [x.grad for x in xs]


def oracle(inputs, do, scale=None, naive=True):
    """The float64 oracle: the naive recurrence (or, for long sequences, the chunked form
    in float64, itself proven against the naive one)."""
    f = naive_bidirectional_gla if naive else chunked_bidirectional_gla
    x64 = [x.detach().double() for x in inputs]
    return run_with_grads(lambda *a: f(*a, scale), x64, do.double())


def plain_pytorch(inputs, do, scale=None):
    """Plain PyTorch in the inputs' own dtype (no upcast): the baseline error."""
    dt = inputs[0].dtype
    return run_with_grads(
        lambda *a: chunked_bidirectional_gla(*a, scale, compute_dtype=dt), inputs, do)


def parity_report(got, ref64, base, dtype):
    """Rows (name, err, bound) for outputs and gradients; ``dtype`` is the inputs' dtype d."""
    rows = []
    eps = EPS[dtype]
    for name, g, r, b in zip(NAMES, got, ref64, base):
        scale = r.abs().max().item()
        err = (g.double() - r).abs().max().item()
        base_err = (b.double() - r).abs().max().item()
        bound = 2 * base_err + 4 * eps * scale + 1e-12
        rows.append((name, err, bound))
    return rows


def assert_parity(got, ref64, base, dtype, context=""):
    bad = []
    for name, err, bound in parity_report(got, ref64, base, dtype):
        if not (err <= bound):  # NaN fails
            bad.append(f"{name}: max err {err:.3e} > bound {bound:.3e}")
    assert not bad, f"parity failed {context}: " + "; ".join(bad)
