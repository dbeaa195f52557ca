"""Test setup. Triton runs in its interpreter on machines without a GPU; that switch must be made
before triton is imported anywhere, hence here, first."""
import os
import shutil
import sys


def _gpu_visible() -> bool:
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


if "TRITON_INTERPRET" not in os.environ and not _gpu_visible():
    os.environ["TRITON_INTERPRET"] = "1"
if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") == "1":
    raise RuntimeError("triton was imported before tests/conftest.py could set TRITON_INTERPRET=1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "vig",
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("gpu", parent=settings.get_profile("vig"), max_examples=15)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "vig"))


#: the three compile-only files (CPU seconds on the 2-core CI machine, session 18: cupy 324, triton 279, tilelang 320
#: with 48 specs; session 23 cut the cupy file's compiles from 142 to 80 and the tilelang file's kernels from 44 to 40: the
#: tilelang file's shared compile fixture, 228 s, is now the longest). pytest-xdist's --dist loadfile hands whole
#: files to the workers in this order, so the longest ones start first and the short files fill in behind them (in
#: collection order the cupy and the triton file fell to one worker: 611 s of a 640-s suite).
_FIRST = ("test_tilelang_compile.py", "test_triton_compile.py", "test_cupy_compile.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_FIRST)))  # stable: each file's own order kept
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run tools/gpu-run.sh on the GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
