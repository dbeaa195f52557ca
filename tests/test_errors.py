"""Bad input gives a clear error, never a wrong answer."""
import pytest
import torch

import vig


def good(L=6, K=8, V=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(2, L, 3, K, generator=g).to(dtype) for _ in range(2))
    v = torch.randn(2, L, 3, V, generator=g).to(dtype)
    gf, gb = (torch.nn.functional.logsigmoid(torch.randn(2, L, 3, K, generator=g)) for _ in range(2))
    return [q, k, v, gf, gb]


@pytest.mark.parametrize("which,shape,match", [
    (0, (2, 6, 3), "q must be 4-D"),
    (1, (2, 6, 3, 4), "k must have q's shape"),
    (2, (2, 5, 3, 8), "v must be \\[B, L, H, V\\]"),
    (3, (2, 6, 3, 4), "g_fwd must have q's shape"),
    (4, (2, 6, 1, 8), "g_bwd must have q's shape"),
])
def test_wrong_shapes(which, shape, match):
    a = good()
    a[which] = torch.randn(shape).clamp(max=0) if which >= 3 else torch.randn(shape)
    with pytest.raises(ValueError, match=match):
        vig.bidirectional_gla(*a)


def test_wrong_dtypes():
    a = good()
    a[1] = a[1].half()
    with pytest.raises(TypeError, match="share one dtype.*k is torch.float16"):
        vig.bidirectional_gla(*a)
    a = good(dtype=torch.bfloat16)
    a[3] = a[3].half()
    with pytest.raises(TypeError, match="g_fwd must be float32 or q's dtype"):
        vig.bidirectional_gla(*a)
    a = good()
    a = [t.int() if i < 3 else t for i, t in enumerate(a)]
    with pytest.raises(TypeError, match="q must be float32, float16 or bfloat16 \\(float64 too on the reference"):
        vig.bidirectional_gla(*a)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        vig.bidirectional_gla(*good()[:4], [0.0])
    with pytest.raises(TypeError, match="scale must be a real number"):
        vig.bidirectional_gla(*good(), scale="1")


def test_mismatched_devices():
    a = good()
    a[2] = a[2].to("meta")
    with pytest.raises(ValueError, match="one device.*v on meta"):
        vig.bidirectional_gla(*a)


def test_positive_gates_are_an_error():
    """Documented choice: gates are log-space decays; a positive gate is rejected (it would
    make exp() grow without bound and every fused kernel assumes <= 0)."""
    a = good()
    a[4] = a[4].clone()
    a[4][1, 2, 0, 3] = 0.25
    with pytest.raises(ValueError, match="g_bwd has an entry 0.25 > 0"):
        vig.bidirectional_gla(*a)
    a[3] = a[3].clone()
    a[3][0, 1, 2, 0] = 0.125  # both gates positive: the message names g_fwd with g_fwd's own entry
    with pytest.raises(ValueError, match="g_fwd has an entry 0.125 > 0"):
        vig.bidirectional_gla(*a)
    a[3][0, 1, 2, 0] = -1.0
    a[4][1, 2, 0, 3] = 4.0  # g_bwd's entry, not the larger of the two gates' maxima
    a[3][0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="g_fwd has an entry 0.5 > 0"):
        vig.bidirectional_gla(*a)
    # Opting out of the check (for gates valid by construction) skips it: a positive gate then passes unchecked
    a = good()
    a[3] = a[3].clone()
    a[3][0, 0, 0, 0] = 0.25
    o = vig.bidirectional_gla(*a, check_gates=False)
    assert o.shape == a[2].shape


def test_nan_propagates_without_a_crash():
    a = good()
    a[2] = a[2].clone()
    a[2][0, 3, 1, 2] = float("nan")
    o = vig.bidirectional_gla(*a)
    assert torch.isnan(o[0, :, 1]).any()
    assert torch.isfinite(o[1]).all()  # other batch entries untouched
    a = good()
    a[3] = a[3].clone()
    a[3][1, 0, 0, 0] = float("nan")  # a NaN gate is not "positive": it propagates
    o = vig.bidirectional_gla(*a)
    assert torch.isnan(o[1]).any() and torch.isfinite(o[0]).all()


def test_empty_sequence_returns_empty_output():
    a = good(L=0)
    a = [t.requires_grad_() for t in a]
    o = vig.bidirectional_gla(*a)
    assert o.shape == (2, 0, 3, 8) and o.dtype == a[2].dtype
    o.sum().backward()


@pytest.mark.parametrize("K,V", [(0, 8), (8, 0), (0, 0)])
def test_zero_head_dims_give_v_times_zero(K, V):
    """K = 0 (no channel pairs q with k: o = 0) or V = 0 (an empty output): no kernel runs, the
    default scale K ** -0.5 is never formed, and the result is v * 0, in v's autograd graph."""
    a = [t.requires_grad_() for t in good(K=K, V=V)]
    o = vig.bidirectional_gla(*a)
    assert o.shape == (2, 6, 3, V) and o.dtype == a[2].dtype and not o.any()
    o.sum().backward()
    assert a[2].grad is not None and not a[2].grad.any()


def test_float64_runs_on_the_reference_backend():
    a = [t.double() for t in good()]
    assert vig.bidirectional_gla(*a, backend="reference").dtype == torch.float64
