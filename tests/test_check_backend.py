"""tools/check_backend.py, the GPU checks' driver: `--small --length L` (what the compute sanitizers run) hands the
backend one forward + backward per dtype at that length, on the "fused" layout's views."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check_backend():
    spec = importlib.util.spec_from_file_location("check_backend", ROOT / "tools" / "check_backend.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_small_runs_each_dtype_once_at_the_length_on_views(check_backend, monkeypatch):
    seen = []
    real = check_backend.run_with_grads

    def spy(fn, inputs, do):
        q, gf = inputs[0], inputs[3]
        seen.append((q.dtype, q.shape[1], q.is_contiguous(), gf.is_contiguous()))
        return real(fn, inputs, do)

    monkeypatch.setattr(check_backend, "run_with_grads", spy)
    assert check_backend.parity("reference", small=True, length=9) == []  # --small judges nothing: sanitizers do
    assert seen == [(dt, 9, False, False) for dt in (torch.bfloat16, torch.float16, torch.float32)]


@pytest.mark.parametrize("args, why", [(["--small", "--length", "0"], "--length must be positive"),
                                       (["--small", "--length", "-3"], "--length must be positive"),
                                       (["--length", "9"], "--length goes with --small"),
                                       (["--parity", "--length", "9"], "--length goes with --small")])
def test_length_is_a_positive_small_option(check_backend, monkeypatch, capsys, args, why):
    monkeypatch.setattr(sys, "argv", ["check_backend.py", "reference", *args])
    with pytest.raises(SystemExit) as e:
        check_backend.main()
    assert e.value.code == 2 and why in capsys.readouterr().err
