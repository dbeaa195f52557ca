"""Every registered kernel backend against the float64 oracle, by the contract's rule, alone and inside
the ViG models. Written once: a backend added to the registry is tested here with no new code.

Each backend runs on the device it runs on where the suite runs: CUDA when there is a GPU, the CPU
for backends that take CPU tensors (Triton in its interpreter under TRITON_INTERPRET=1). Backends that
cannot run here are skipped with their reason. The reference backend is not a row here: the rule's
baseline (plain PyTorch in the same dtype) is the reference's own code, so it would be judged against
itself; tests/test_reference.py judges it against the naive float64 recurrence with bounds of its own.
"""
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import vig
from vig import registry

from .parity import assert_parity, oracle, plain_pytorch, run_with_grads
from .strategies import Case, at_offset, cases, make_inputs

ON_GPU = torch.cuda.is_available()


def _device_for(name):
    """The device this backend is tested on here, or the reason it is skipped."""
    reason = vig.available_backends()[name]
    if reason:
        return None, reason
    obj = registry.get_backend_object(name)
    if ON_GPU and "cuda" in obj.device_types:
        return "cuda", None
    if "cpu" in obj.device_types:
        return "cpu", None
    return None, f"takes {obj.device_types} tensors and there is no GPU here"


def _params():
    out = []
    for name in vig.available_backends():
        if name == "reference":
            continue  # judged by tests/test_reference.py (module docstring)
        dev, why = _device_for(name)
        marks = [pytest.mark.skip(reason=f"{name}: {why}")] if dev is None else []
        out.append(pytest.param(name, dev, id=name, marks=marks))
    return out


BACKENDS = _params()
# What one hypothesis example may cost: the interpreter and the CPU are slow, the GPU is not.
CPU_CASES = dict(max_B=2, max_H=2, max_L=64, head_dims=(16, 32), max_BH=2)
GPU_CASES = dict(max_B=4, max_H=4, max_L=300)


def _strategy(device):
    return cases(**(GPU_CASES if device == "cuda" else CPU_CASES))


def _check(name, device, case, naive=True, place=None):
    """``place``: what each input goes through on its way into the op (differentiable), e.g. at_offset."""
    q, k, v, gf, gb, do = make_inputs(case, device)
    op = (lambda *a: vig.bidirectional_gla(*a, backend=name)) if place is None else (
        lambda *a: vig.bidirectional_gla(*map(place, a), backend=name))
    got = run_with_grads(op, (q, k, v, gf, gb), do)
    assert got[0].dtype == v.dtype and got[0].shape == v.shape
    ref64 = oracle((q, k, v, gf, gb), do, naive=naive)
    base = plain_pytorch((q, k, v, gf, gb), do)
    assert_parity(got, ref64, base, q.dtype, context=f"[{name} on {device}: {case}]")


@pytest.mark.parametrize("name,device", BACKENDS)
def test_parity_with_the_oracle(name, device):
    # On the GPU each drawn (K, V, dtype) JIT-compiles a new kernel set (seconds each): 40
    # examples outlasted a 450 s device call, hence 15.
    n = 15 if device == "cuda" else 12

    @settings(max_examples=n)
    @given(case=_strategy(device))
    def run(case):
        _check(name, device, case)

    run()


@pytest.mark.parametrize("name,device", BACKENDS)
@pytest.mark.parametrize("L", [1, 15, 16, 17, 64])
def test_parity_at_chunk_edges(name, device, L):
    for regime, dtype in (("neg_inf", "float32"), ("mixed", "bfloat16")):
        _check(name, device, Case(B=1, L=L, H=2, K=32, V=64, dtype=dtype, regime=regime,
                                  layout="fused", gate_dtype="float32", seed=L))


@pytest.mark.parametrize("name,device", BACKENDS)
def test_fused_views_reach_the_kernels(name, device, monkeypatch):
    """The "fused" layout's q, k and v are views with gaps between their rows (cut from one projection, as in the
    models), and a backend that takes any strides is handed them as such through the parity suite's own path, so
    that the suite's parity on that layout is the strided kernels' parity (until session 24 the suite cloned its
    inputs, and a clone of such a view is contiguous: no kernel ever saw the strides there)."""
    obj = registry.get_backend_object(name)
    real, seen = obj.forward, []

    def spy(q, k, v, *rest, **kw):
        seen.append((obj.requires_contiguous, [t.is_contiguous() for t in (q, k, v)]))
        return real(q, k, v, *rest, **kw)

    monkeypatch.setattr(obj, "forward", spy)
    K, V = (32, 64) if device == "cuda" else (16, 32)
    case = Case(B=1, L=21, H=2, K=K, V=V, dtype="bfloat16", regime="mixed", layout="fused", gate_dtype="float32",
                seed=21)
    _check(name, device, case)
    assert seen, f"{name}'s forward was not called"
    needs_contiguous, contiguous = seen[0]
    if needs_contiguous:
        pytest.skip(f"{name} asks for contiguous tensors at this case (requires_contiguous)")
    assert contiguous == [False] * 3, f"{name} was handed q, k, v contiguous={contiguous}: the views were copied"


@pytest.mark.parametrize("name,device", BACKENDS)
def test_parity_at_odd_offsets(name, device):
    """Inputs that are contiguous but start 1-3 elements past an aligned address are valid inputs (any strides, any
    offset): kernels that load 8 or 16 bytes at a time must not read them as they are (session 21: TileLang's int64
    views raised on them), and the answer must be the oracle's. Shapes, dtypes, gates and the offset drawn."""
    n = 8 if device == "cuda" else 3

    def run(case, offset):
        _check(name, device, case, place=lambda x: at_offset(x, offset))

    if device == "cuda":  # on the GPU always each dtype at the models' head dims too, besides what is drawn
        for dt in ("float16", "float32", "bfloat16"):
            run = example(case=Case(B=2, L=196, H=3, K=32, V=64, dtype=dt, regime="mixed", layout="contiguous",
                                    gate_dtype="float32", seed=196), offset=1)(run)
    settings(max_examples=n)(given(case=_strategy(device), offset=st.integers(1, 3))(run))()


@pytest.mark.gpu
@pytest.mark.parametrize("name,device", BACKENDS)
def test_parity_on_a_device_other_than_the_current_one(name, device):
    """Tensors on cuda:1 while cuda:0 is current: the shared layer switches to the tensors' device for the
    forward kernels (they launch on the current device's stream); parity as anywhere. (The backward runs on the
    autograd engine's worker thread of the tensors' device, which makes that device current: the shared layer's
    backward guard is for callers outside the engine, and this test does not reach it.)"""
    if device != "cuda":
        pytest.skip("the kernel backends' device switch, on CUDA devices")
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")
    case = Case(B=2, L=196, H=3, K=32, V=64, dtype="bfloat16", regime="mixed", layout="contiguous",
                gate_dtype="float32", seed=11)
    with torch.cuda.device(0):
        _check(name, "cuda:1", case)


@pytest.mark.gpu
@pytest.mark.parametrize("name,device", BACKENDS)
@pytest.mark.parametrize("L", [4096, 16384])
@pytest.mark.parametrize("regime", ["zero", "strong", "neg_inf", "model"])
def test_extreme_cases_on_long_sequences(name, device, L, regime):
    """The contract's extreme cases: finite, and at parity, for strong, zero and -inf gates."""
    if device != "cuda":
        pytest.skip("kernels' long sequences are checked on the GPU (the reference's in test_reference)")
    _check(name, device, Case(B=1, L=L, H=2, K=32, V=64, dtype="bfloat16", regime=regime,
                              layout="fused", gate_dtype="float32", seed=L), naive=False)


# ---- inside the models ---------------------------------------------------------------------

def _model_grads(model, x):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    logits.float().square().mean().backward()
    grads = torch.cat([p.grad.flatten().double() for p in model.parameters() if p.grad is not None])
    return logits.detach().double(), grads


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("name,device", BACKENDS)
@pytest.mark.parametrize("model_name", ["vig_tiny", "vig_small", "vig_h_tiny"])
def test_models_match_the_reference_backend(name, device, model_name):
    """Logits and every parameter gradient with backend=name against backend="reference"."""
    if device == "cpu" and model_name != "vig_tiny":
        pytest.skip("on the CPU (interpreter) one small model is enough")
    torch.manual_seed(0)
    img = (224, 224) if device == "cuda" else (64, 64)
    batch = 4 if device == "cuda" else 1
    # Stochastic depth off: in training mode it would drop different blocks in the two passes.
    model = vig.create_model(model_name, num_classes=10, img_size=img, backend=name,
                             drop_path_rate=0.0).to(device)
    x = torch.randn(batch, 3, *img, device=device)
    logits, grads = _model_grads(model, x)
    model.set_backend("reference")
    ref_logits, ref_grads = _model_grads(model, x)
    assert _rel(logits, ref_logits) < 1e-3, _rel(logits, ref_logits)
    assert _rel(grads, ref_grads) < 1e-3, _rel(grads, ref_grads)
    if device == "cuda":  # bf16 autocast: the op gets bf16 views of the projections (the kernels' view paths)
        model.set_backend(name)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf_logits, bf_grads = _model_grads(model, x)
        model.set_backend("reference")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ref_bf_logits, ref_bf_grads = _model_grads(model, x)
        assert _rel(bf_logits, ref_logits) < 5e-2
        assert _rel(bf_logits, ref_bf_logits) < 5e-2, _rel(bf_logits, ref_bf_logits)
        assert _rel(bf_grads, ref_bf_grads) < 5e-2, _rel(bf_grads, ref_bf_grads)
