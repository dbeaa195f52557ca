"""The main job's command line (``python -m vig``): arguments and what it refuses."""
import re

import pytest
import torch

import vig
from vig import cli, registry


@pytest.mark.parametrize("value,match", [("tritn", "unknown vig backend 'tritn'"),
                                         ("reference,auto", "'auto' is a policy")])
def test_bad_backend_names_are_usage_errors(value, match, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--backends", value])
    assert e.value.code == 2 and match in capsys.readouterr().err


def test_a_named_backend_that_cannot_run_is_an_error_not_skipped(capsys):
    assert cli.main(["--device", "cpu", "--backends", "cupy"]) == 2  # cupy never takes CPU tensors
    assert "cupy cannot run here" in capsys.readouterr().err


def test_the_main_job_runs_the_reference(capsys):
    assert cli.main(["--device", "cpu", "--backends", "reference", "--batch", "1", "--img-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "vig_tiny:" in out and "\nreference" in out


@pytest.mark.parametrize("args,match", [(["--batch", "0"], "--batch: expected a positive integer, got 0"),
                                        (["--img-size", "-32"], "--img-size: expected a positive integer"),
                                        (["--device", "nonsense"], "--device"),
                                        pytest.param(["--device", "cuda"], "no CUDA device is available",
                                                     marks=pytest.mark.skipif("torch.cuda.is_available()"))])
def test_bad_arguments_are_usage_errors(args, match, capsys):
    """Never a silent default (``--batch 0`` once ran batch 2) or a traceback from deep inside torch."""
    with pytest.raises(SystemExit) as e:
        cli.main(["--backends", "reference"] + args)
    assert e.value.code == 2 and match in capsys.readouterr().err


def _wrong_op(q, k, v, g_fwd, g_bwd, scale):
    from vig_reference import chunked_bidirectional_gla

    return chunked_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale) + 0.5 * v  # (a scale would vanish in the RMSNorm)


class _Wrong(vig.KernelBackend):
    """A CPU backend that answers through the reference's code, plus v / 2: a wrong answer, and its gradients."""
    name = "wrong"
    device_types = ("cpu",)

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        return _wrong_op(q, k, v, g_fwd, g_bwd, scale), ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        with torch.enable_grad():
            xs = [t.detach().requires_grad_(True) for t in (q, k, v, g_fwd, g_bwd)]
            return torch.autograd.grad(_wrong_op(*xs, scale), xs, do)


def test_the_main_job_fails_on_a_wrong_answer(monkeypatch, capsys):
    """A backend whose logits or input gradients are off by more than cli.TOLERANCE fails the main job (exit 1,
    the row marked WRONG), the others pass."""
    monkeypatch.setitem(registry._REGISTRY, "wrong", f"{__name__}:_Wrong")
    try:
        rc = cli.main(["--device", "cpu", "--backends", "reference,wrong", "--batch", "1", "--img-size", "32"])
    finally:
        registry._objects.pop("wrong", None)
    cap = capsys.readouterr()
    assert rc == 1 and "wrong: max relative error above" in cap.err
    assert re.search(r"^wrong .*WRONG$", cap.out, re.M) and not re.search(r"^reference .*WRONG$", cap.out, re.M)
