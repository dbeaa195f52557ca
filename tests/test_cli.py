"""The main job's command line (``python -m vig``): arguments and what it refuses."""
import pytest

from vig import cli


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
