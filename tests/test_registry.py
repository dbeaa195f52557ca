"""The backend registry: choosing, scoping, the environment variable, errors."""
import os
import subprocess
import sys
import threading

import pytest
import torch

import vig
from vig import registry
from vig.backend import Backend


@pytest.fixture(autouse=True)
def _restore_default():
    saved = registry._default
    yield
    registry._default = saved


def inputs(L=9):
    g = torch.Generator().manual_seed(L)
    q, k = torch.randn(2, 1, L, 2, 8, generator=g)
    v = torch.randn(1, L, 2, 8, generator=g)
    gf, gb = torch.nn.functional.logsigmoid(torch.randn(2, 1, L, 2, 8, generator=g))
    return q, k, v, gf, gb


def test_reference_is_registered_and_available():
    avail = vig.available_backends()
    assert "reference" in avail and avail["reference"] is None
    assert set(avail) | {"auto"} == set(vig.known_backends())


def test_set_and_get():
    vig.set_backend("reference")
    assert vig.get_backend() == "reference"
    vig.set_backend("auto")
    assert vig.get_backend() == "auto"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known backends:.*'reference'.*'auto'"):
        vig.set_backend("nope")
    with pytest.raises(ValueError, match="unknown vig backend 'nope'"):
        with vig.use_backend("nope"):
            pass
    with pytest.raises(ValueError, match="unknown vig backend"):
        vig.bidirectional_gla(*inputs(), backend="nope")


def test_use_backend_nests_and_restores():
    vig.set_backend("auto")
    with vig.use_backend("reference"):
        assert vig.get_backend() == "reference"
        with vig.use_backend("auto"):
            assert vig.get_backend() == "auto"
        assert vig.get_backend() == "reference"
    assert vig.get_backend() == "auto"


def test_use_backend_is_per_thread():
    vig.set_backend("auto")
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def worker():
        with vig.use_backend("reference"):
            seen["worker"] = vig.get_backend()
            inside.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    seen["main"] = vig.get_backend()
    release.set()
    t.join()
    assert seen == {"worker": "reference", "main": "auto"}


def test_auto_takes_the_reference_on_cpu():
    assert registry.resolve_backend("auto", torch.device("cpu")).name == "reference"


def _env_run(code, value):
    env = {**os.environ, "VIG_BACKEND": value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def test_environment_variable_sets_the_default():
    r = _env_run("import vig; print(vig.get_backend())", "reference")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "reference"
    r = _env_run("import vig; vig.get_backend()", "bogus")
    assert r.returncode != 0 and "$VIG_BACKEND: unknown vig backend 'bogus'" in r.stderr


class _NeverBackend(Backend):
    name = "never"
    install_hint = "install the never extra"

    def not_supported_reasons(self):
        return ["the never package is not installed"]


class _BrokenImport:
    def __init__(self):
        raise ImportError("libfoo.so: cannot open shared object file")


@pytest.fixture
def fake_backends(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "never", f"{__name__}:_NeverBackend")
    monkeypatch.setitem(registry._REGISTRY, "broken", f"{__name__}:_BrokenImport")
    yield
    for n in ("never", "broken"):
        registry._objects.pop(n, None)
        registry._import_errors.pop(n, None)


class _Fp16Only(Backend):
    """A usable backend (no CUDA needed to resolve it) that takes float16 heads of at most 8 channels."""
    name = "fp16only"
    device_types = ("cuda",)
    dtypes = (torch.float16,)
    max_head_dim = 8


def test_auto_skips_backends_that_do_not_take_the_dtype_or_head(monkeypatch):
    """"auto" chooses among backends that can take the tensors' dtype and head size, else the reference
    (float64 on a GPU, heads wider than every kernel backend's limit); an explicit name never falls back."""
    monkeypatch.setitem(registry._REGISTRY, "fp16only", f"{__name__}:_Fp16Only")
    monkeypatch.setattr(registry, "AUTO_ORDER", ("fp16only",))
    try:
        dev = torch.device("cuda")
        assert registry.resolve_backend("auto", dev, torch.float16, 8).name == "fp16only"
        assert registry.resolve_backend("auto", dev).name == "fp16only"
        assert registry.resolve_backend("auto", dev, torch.float64, 8).name == "reference"
        assert registry.resolve_backend("auto", dev, torch.float16, 9).name == "reference"
        assert registry.resolve_backend("fp16only", dev, torch.float64, 64).name == "fp16only"
    finally:
        registry._objects.pop("fp16only", None)


class _CpuHalf(_Fp16Only):
    """_Fp16Only on the CPU (its entry points are never reached)."""
    name = "cpuhalf"
    device_types = ("cpu",)


def test_a_named_backend_refuses_what_it_does_not_take(monkeypatch):
    """A backend named for the call that does not take the tensors' dtype or head size: a TypeError / a
    BackendUnavailableError that says what it takes, before any kernel runs (never another backend's answer)."""
    monkeypatch.setitem(registry._REGISTRY, "cpuhalf", f"{__name__}:_CpuHalf")
    try:
        with pytest.raises(TypeError, match=r"backend 'cpuhalf' takes torch.float16, got torch.float32$"):
            vig.bidirectional_gla(*inputs(), backend="cpuhalf")
        with pytest.raises(TypeError, match=r"got torch.float64 \(the reference backend takes float64"):
            vig.bidirectional_gla(*(x.double() for x in inputs()), backend="cpuhalf")
        q, k, v, gf, gb = inputs()
        wide = torch.cat([v, v], -1).half()  # V = 16
        with pytest.raises(vig.BackendUnavailableError, match=r"head dims K=8, V=16 exceed its limit of 8"):
            vig.bidirectional_gla(q.half(), k.half(), wide, gf, gb, backend="cpuhalf")
    finally:
        registry._objects.pop("cpuhalf", None)


class _CudaOnly(Backend):
    name = "cudaonly"
    install_hint = "pip install the cudaonly extra"


def test_a_backend_that_cannot_take_the_device_says_so_not_install(monkeypatch):
    """A backend that runs here but not on these tensors' device: the fix is about the tensors (or another
    backend), not the install hint."""
    monkeypatch.setitem(registry._REGISTRY, "cudaonly", f"{__name__}:_CudaOnly")
    try:
        with pytest.raises(vig.BackendUnavailableError) as e:
            vig.bidirectional_gla(*inputs(), backend="cudaonly")
        msg = str(e.value)
        assert "runs on cuda tensors, these are on cpu" in msg and "move the tensors" in msg
        assert "pip install" not in msg
    finally:
        registry._objects.pop("cudaonly", None)


def test_set_backend_none_restores_the_environment_default(monkeypatch):
    monkeypatch.setenv("VIG_BACKEND", "reference")
    vig.set_backend("auto")
    assert vig.get_backend() == "auto"
    vig.set_backend(None)
    assert vig.get_backend() == "reference"
    monkeypatch.delenv("VIG_BACKEND")
    assert vig.get_backend() == "auto"


def test_unavailable_backend_raises_with_reason_and_fix(fake_backends):
    avail = vig.available_backends()
    assert avail["never"] == "the never package is not installed"
    assert "libfoo.so" in avail["broken"]
    with pytest.raises(vig.BackendUnavailableError) as e:
        vig.bidirectional_gla(*inputs(), backend="never")
    msg = str(e.value)
    assert "'never'" in msg and "not installed" in msg and "install the never extra" in msg
    with vig.use_backend("broken"), pytest.raises(vig.BackendUnavailableError, match="libfoo"):
        vig.bidirectional_gla(*inputs())


def test_no_silent_fallback_for_registered_gpu_backends_on_cpu():
    """Every registered backend that cannot take CPU tensors refuses them with the reason."""
    for name in vig.available_backends():
        obj = registry.get_backend_object(name)
        if obj is None or "cpu" in obj.device_types:
            continue
        with pytest.raises(vig.BackendUnavailableError, match=name):
            vig.bidirectional_gla(*inputs(), backend=name)


def test_backend_argument_overrides_the_context(fake_backends):
    """backend= wins over use_backend and set_backend: with a backend in force that cannot run, a call naming
    the reference runs (and gives the reference's result), while a call naming none raises."""
    want = vig.bidirectional_gla(*inputs(), backend="reference")
    vig.set_backend("never")
    with pytest.raises(vig.BackendUnavailableError, match="never"):
        vig.bidirectional_gla(*inputs())
    torch.testing.assert_close(vig.bidirectional_gla(*inputs(), backend="reference"), want, rtol=0, atol=0)
    with vig.use_backend("never"):
        with pytest.raises(vig.BackendUnavailableError, match="never"):
            vig.bidirectional_gla(*inputs())
        torch.testing.assert_close(vig.bidirectional_gla(*inputs(), backend="reference"), want, rtol=0, atol=0)


def test_knobs_read_once_and_memo_forgets_on_reload(monkeypatch):
    """vig.backend.Knobs: the backends' switches are read from the environment once, served from memory, and
    re-read by reload(); Knobs.memo caches a routing decision per argument tuple until reload(), and a decision
    that raises (a bad switch value) is never cached."""
    from vig.backend import Knobs

    monkeypatch.setenv("VIG_TEST_KNOB", "a")
    knobs = Knobs("VIG_TEST_")
    calls = []

    @knobs.memo
    def route(n):
        calls.append(n)
        val = knobs.get("VIG_TEST_KNOB", "")
        if val not in ("a", "b"):
            raise ValueError(f"VIG_TEST_KNOB={val!r}")
        return val * n

    assert route(2) == "aa" and route(2) == "aa" and route(3) == "aaa"
    assert calls == [2, 3]
    monkeypatch.setenv("VIG_TEST_KNOB", "b")
    assert route(2) == "aa"  # not re-read until reload()
    knobs.reload()
    assert route(2) == "bb" and calls == [2, 3, 2]
    monkeypatch.setenv("VIG_TEST_KNOB", "c")
    knobs.reload()
    for _ in range(2):
        with pytest.raises(ValueError, match="VIG_TEST_KNOB='c'"):
            route(2)
    assert calls == [2, 3, 2, 2, 2]


@pytest.mark.parametrize("value,empty,want", [(None, None, "b"), ("a", None, "a"), ("", "b", "b"), ("", None, "''"),
                                              ("c", None, "'c'"), ("c", "b", "'c'")])
def test_knobs_choice(monkeypatch, value, empty, want):
    """Knobs.choice, the named-value switches' one check: one of ``allowed``, the default when unset, ``empty`` for
    the empty value where one is given (Triton's switches, whose empty value means the default; elsewhere "" may be
    an allowed value of its own); anything else a ValueError naming the variable, the value and what it takes."""
    from vig.backend import Knobs

    if value is None:
        monkeypatch.delenv("VIG_TEST_CHOICE", raising=False)
    else:
        monkeypatch.setenv("VIG_TEST_CHOICE", value)
    knobs = Knobs("VIG_TEST_")
    if len(want) == 1:
        assert knobs.choice("VIG_TEST_CHOICE", "b", ("a", "b"), empty=empty) == want
    else:
        tail = " \\(or empty\\)" if empty is not None else ""
        with pytest.raises(ValueError, match=f"^VIG_TEST_CHOICE={want}: expected one of 'a', 'b'{tail}$"):
            knobs.choice("VIG_TEST_CHOICE", "b", ("a", "b"), empty=empty)


@pytest.mark.parametrize("value,empty,want", [(None, None, 64), ("96", None, 96), ("", 0, 0), ("", 128, 128),
                                              ("", None, "''"), ("100", 0, "'100'"), ("0", 0, "'0'"),
                                              ("288", 0, "'288'"), ("abc", 0, "'abc'"), ("-32", 0, "'-32'")])
def test_knobs_multiple(monkeypatch, value, empty, want):
    """Knobs.multiple, the count switches' one check (TileLang's SEG_L / BWD_SEG / *_THREADS, CuPy's segment caps):
    a multiple of ``step`` in [lo, hi], the default when unset, ``empty`` for the empty value where one is given;
    anything else a ValueError naming the variable and the value."""
    from vig.backend import Knobs

    if value is None:
        monkeypatch.delenv("VIG_TEST_COUNT", raising=False)
    else:
        monkeypatch.setenv("VIG_TEST_COUNT", value)
    knobs = Knobs("VIG_TEST_")
    if isinstance(want, int):
        assert knobs.multiple("VIG_TEST_COUNT", "64", 32, 32, 256, empty=empty) == want
    else:
        with pytest.raises(ValueError, match=f"VIG_TEST_COUNT={want}: expected a multiple of 32 in \\[32, 256\\]"):
            knobs.multiple("VIG_TEST_COUNT", "64", 32, 32, 256, empty=empty)
