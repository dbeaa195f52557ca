"""The chunked reference (and the reference backend behind the public op) against the float64
naive recurrence: outputs and all five gradients."""
import pytest
import torch
from hypothesis import given, settings

import vig
from vig_reference import chunked_bidirectional_gla, naive_bidirectional_gla

from .parity import oracle, run_with_grads
from .strategies import cases, make_inputs

REL_TOL = {torch.float64: 1e-12, torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


@settings(max_examples=25)
@given(case=cases(max_L=300))
def test_chunked_float64_equals_naive(case):
    q, k, v, gf, gb, do = make_inputs(case)
    x64 = [t.double() for t in (q, k, v, gf, gb)]
    got = run_with_grads(chunked_bidirectional_gla, x64, do.double())
    ref = oracle(x64, do)
    for name, g, r in zip(("o", "dq", "dk", "dv", "dgf", "dgb"), got, ref):
        assert torch.isfinite(g).all(), f"{name} not finite for {case}"
        assert rel_err(g, r) <= 1e-12, f"{name}: {rel_err(g, r):.2e} for {case}"


@settings(max_examples=25)
@given(case=cases(max_L=300))
def test_reference_backend_matches_oracle_in_every_dtype(case):
    """Through the public op, in the case's dtype (accumulating in float32)."""
    q, k, v, gf, gb, do = make_inputs(case)
    got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="reference"), (q, k, v, gf, gb), do)
    ref = oracle((q, k, v, gf, gb), do)
    assert got[0].dtype == v.dtype
    for name, g, r in zip(("o", "dq", "dk", "dv", "dgf", "dgb"), got, ref):
        assert torch.isfinite(g).all(), f"{name} not finite for {case}"
        # Relative error, with an absolute floor for values under the dtype's normal range
        # (strong gates give gradients of 1e-10 that float16 cannot hold).
        tol = REL_TOL[g.dtype]
        err = (g.double() - r).norm().item()
        bound = tol * r.norm().item() + torch.finfo(g.dtype).tiny * r.numel() ** 0.5
        assert err <= bound, f"{name}: {err:.2e} > {bound:.2e} for {case}"


@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_chunk_size_does_not_change_the_result(chunk):
    g = torch.Generator().manual_seed(chunk)
    q, k = torch.randn(2, 2, 37, 2, 16, generator=g, dtype=torch.float64)
    v = torch.randn(2, 37, 2, 32, generator=g, dtype=torch.float64)
    gf, gb = torch.nn.functional.logsigmoid(torch.randn(2, 2, 37, 2, 16, generator=g, dtype=torch.float64))
    a = chunked_bidirectional_gla(q, k, v, gf, gb, chunk_size=chunk)
    b = naive_bidirectional_gla(q, k, v, gf, gb)
    assert rel_err(a, b) < 1e-13


@pytest.mark.parametrize("regime", ["zero", "strong", "neg_inf"])
def test_long_sequence_is_finite_and_accurate(regime):
    """The contract's extreme cases at L = 4096 on the CPU: no overflow, no precision collapse."""
    from .strategies import Case

    case = Case(B=1, L=4096, H=1, K=16, V=16, dtype="float32", regime=regime,
                layout="fused", gate_dtype="float32", seed=7)
    q, k, v, gf, gb, do = make_inputs(case)
    got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="reference"), (q, k, v, gf, gb), do)
    ref = oracle((q, k, v, gf, gb), do, naive=False)
    for name, g, r in zip(("o", "dq", "dk", "dv", "dgf", "dgb"), got, ref):
        assert torch.isfinite(g).all(), name
        assert rel_err(g, r) < 1e-4, f"{name}: {rel_err(g, r):.2e}"
