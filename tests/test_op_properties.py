"""Properties of the op's math, checked on the reference backend with fresh random inputs."""
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import vig

from .strategies import Case, at_offset, cases, make_inputs


def op(*a, **kw):
    return vig.bidirectional_gla(*a, backend="reference", **kw)


def f64(case):
    return [t.double() for t in make_inputs(case)[:5]]


small = cases(max_L=80, dtypes=("float32",), head_dims=(16, 32))


@settings(max_examples=20)
@given(case=small)
def test_reversal_swaps_the_directions(case):
    q, k, v, gf, gb = f64(case)
    o = op(q, k, v, gf, gb)
    r = op(q.flip(1), k.flip(1), v.flip(1), gb.flip(1), gf.flip(1))
    torch.testing.assert_close(r.flip(1), o, rtol=1e-10, atol=1e-10)


@settings(max_examples=20)
@given(case=small)
def test_zero_gates_give_plain_bidirectional_linear_attention(case):
    q, k, v, _, _ = f64(case)
    z = torch.zeros_like(q)
    s = case.K ** -0.5
    o = op(q, k, v, z, z)
    att = torch.einsum("bthk,bjhk->bhtj", q, k)
    diag = torch.einsum("bthk,bthk->bht", q, k)
    want = s / 2 * (torch.einsum("bhtj,bjhv->bthv", att, v) + diag.transpose(1, 2)[..., None] * v)
    torch.testing.assert_close(o, want, rtol=1e-10, atol=1e-10)


@settings(max_examples=15)
@given(case=cases(max_B=3, max_H=3, max_L=60, dtypes=("float32",), head_dims=(16,)),
       b=st.integers(0, 2), h=st.integers(0, 2))
def test_batch_and_head_entries_are_independent(case, b, h):
    q, k, v, gf, gb = f64(case)
    b, h = b % case.B, h % case.H
    full = op(q, k, v, gf, gb)
    one = op(*(t[b:b + 1, :, h:h + 1] for t in (q, k, v, gf, gb)))
    torch.testing.assert_close(one, full[b:b + 1, :, h:h + 1], rtol=1e-12, atol=1e-12)


@settings(max_examples=15)
@given(case=small, a=st.floats(-3, 3), c=st.floats(-3, 3))
def test_output_is_linear_in_v(case, a, c):
    q, k, v, gf, gb = f64(case)
    v2 = torch.randn_like(v)
    lhs = op(q, k, a * v + c * v2, gf, gb)
    rhs = a * op(q, k, v, gf, gb) + c * op(q, k, v2, gf, gb)
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)


def test_scale_is_a_plain_factor():
    q, k, v, gf, gb = f64(next_case())
    torch.testing.assert_close(op(q, k, v, gf, gb, scale=0.3) * 2, op(q, k, v, gf, gb, scale=0.6))
    torch.testing.assert_close(op(q, k, v, gf, gb), op(q, k, v, gf, gb, scale=q.shape[-1] ** -0.5))


def next_case():
    from .strategies import Case

    return Case(B=2, L=33, H=2, K=16, V=32, dtype="float32", regime="model",
                layout="fused", gate_dtype="float32", seed=3)


class _SmallTiles(vig.KernelBackend):
    """The chunked reference behind the kernel-backend interface, taking at most 8 key and 8
    value channels at once: exercises the shared layer's head-dim tiling (KernelBackend.max_tile)."""

    name = "small-tiles"
    device_types = ("cpu",)
    max_tile = (8, 8)

    def not_supported_reasons(self):
        return []

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        from vig_reference import chunked_bidirectional_gla

        assert q.shape[-1] <= 8 and v.shape[-1] <= 8 and q.dtype == torch.float32
        return chunked_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale), ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        from vig_reference import chunked_bidirectional_gla

        ins = [t.detach().requires_grad_() for t in (q, k, v, g_fwd, g_bwd)]
        with torch.enable_grad():
            o = chunked_bidirectional_gla(*ins, scale)
        return torch.autograd.grad(o, ins, do)


@settings(max_examples=10)
@given(case=cases(max_L=40, dtypes=("float32",), head_dims=(12, 20, 32)))
def test_wide_heads_run_as_tiles_with_the_same_result(case):
    """Outputs and all five gradients of the tiled path equal the untiled op's."""
    q, k, v, gf, gb, do = make_inputs(case)
    ins = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
    got = _SmallTiles().apply(*ins, case.K ** -0.5)
    g_got = torch.autograd.grad(got, ins, do)
    want = op(*ins)
    g_want = torch.autograd.grad(want, ins, do)
    for a, b in zip((got, *g_got), (want, *g_want)):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)


class _Recording(_SmallTiles):
    """Records the ``needs_grad`` each forward was given; saves a marker only when it is True
    (as TileLang's VIG_TILELANG_SAVE224 forward saves the chunk states only then)."""

    name = "recording"
    max_tile = None

    def __init__(self):
        self.seen = []

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        from vig_reference import chunked_bidirectional_gla

        self.seen.append(needs_grad)
        saved = (torch.full((1,), 7.0),) if needs_grad else ()
        return chunked_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale), saved

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        assert len(saved) == 1 and saved[0].item() == 7.0, "the forward's saved tensors reach the backward"
        return super().backward(q, k, v, g_fwd, g_bwd, scale, do, ())


@settings(max_examples=4)
@given(case=cases(max_L=24, dtypes=("float32",), head_dims=(4, 8)), which=st.integers(0, 4))
def test_forward_is_told_whether_a_backward_may_follow(case, which):
    """KernelBackend.forward's needs_grad: True when grad mode is on and any input requires a gradient
    (then what it saved reaches the backward), False under no_grad / inference_mode or with no such input."""
    q, k, v, gf, gb, do = make_inputs(case)
    be = _Recording()
    ins = [t.detach() for t in (q, k, v, gf, gb)]
    ins[which].requires_grad_()
    o = be.apply(*ins, case.K ** -0.5)
    (g,) = torch.autograd.grad(o, [ins[which]], do)
    assert g.shape == ins[which].shape
    with torch.no_grad():
        be.apply(*ins, case.K ** -0.5)
    with torch.inference_mode():
        be.apply(*(t.detach() for t in ins), case.K ** -0.5)
    be.apply(*(t.detach() for t in ins), case.K ** -0.5)
    assert be.seen == [True, False, False, False]


class _Contiguous(_SmallTiles):
    """A backend that asks for contiguous tensors (``requires_contiguous``): checks what the shared layer hands its
    entry points, the tensors and dO, against that promise (contiguous, base on a vig.ops.ALIGN-byte boundary)."""

    name = "contiguous"
    max_tile = None
    requires_contiguous = True

    @staticmethod
    def _promised(*ts):
        from vig.ops import ALIGN

        for t in ts:
            row_major = t.stride() == tuple(int(torch.tensor(t.shape[i + 1:]).prod()) for i in range(t.dim()))
            assert row_major and t.data_ptr() % ALIGN == 0, (t.stride(), t.storage_offset(), t.data_ptr() % ALIGN)

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        self._promised(q, k, v, g_fwd, g_bwd)
        return super().forward(q, k, v, g_fwd, g_bwd, scale, needs_grad)

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        self._promised(q, k, v, g_fwd, g_bwd, do)
        return super().backward(q, k, v, g_fwd, g_bwd, scale, do, saved)


@settings(max_examples=10)
@given(case=cases(max_L=40, dtypes=("float32",), head_dims=(4, 8)), offset=st.integers(0, 7))
def test_contiguous_tensors_are_handed_over_aligned(case, offset):
    """A backend with ``requires_contiguous`` gets contiguous tensors whose data start 16-byte aligned also when the
    caller's are contiguous at an odd offset (flat slices of a larger buffer, which ``.contiguous()`` returns as
    they are: session 21 found TileLang's fp16 / fp32 kernels faulting on them); the result is the reference's."""
    q, k, v, gf, gb, do = make_inputs(case)
    ins = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
    got = _Contiguous().apply(*(at_offset(t, offset) for t in ins), case.K ** -0.5)
    g_got = torch.autograd.grad(got, ins, at_offset(do, offset))
    want = op(*ins)
    g_want = torch.autograd.grad(want, ins, do)
    for a, b in zip((got, *g_got), (want, *g_want)):
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)


def test_size_one_dims_with_other_strides_are_handed_over_row_major():
    """A tensor PyTorch calls contiguous may carry any stride on a size-1 dim (here B = 1 after a permute, and
    H = 1 from a slice); a backend with ``requires_contiguous`` gets row-major strides anyway (view(dtype) and
    compiled kernels' stride checks look at every dim), and the reference's result."""
    case = Case(B=1, L=7, H=1, K=8, V=8, dtype="float32", regime="mixed", layout="contiguous", gate_dtype="float32",
                seed=3)
    q, k, v, gf, gb, do = make_inputs(case)
    def odd_strides(t):  # row-major but for stride 3 on B and 5 on H (both size 1): still "contiguous"
        st = list(t.contiguous().stride())
        st[0], st[2] = 3, 5
        return torch.empty_strided(t.shape, st, dtype=t.dtype).copy_(t)

    odd = [odd_strides(t) for t in (q, k, v, gf, gb)]
    assert all(t.is_contiguous() and t.stride()[::2] == (3, 5) for t in odd)
    ins = [t.detach().requires_grad_() for t in odd]
    got = _Contiguous().apply(*ins, case.K ** -0.5)
    g_got = torch.autograd.grad(got, ins, do)
    want = op(*ins)
    g_want = torch.autograd.grad(want, ins, do)
    for a, b in zip((got, *g_got), (want, *g_want)):
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)
