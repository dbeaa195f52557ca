# Source this at the start of every command on the lent GPU machine (the device tool), from the
# project root:   source tools/device-setup.sh
# It unpacks .device-deps (TileLang, fla; carry ".device-deps" in the run) and installs this
# project in editable mode, with no network and no dependency resolution (the GPU image already
# has torch, triton, cupy, timm, einops, pytest, hypothesis, pytest-benchmark).
mkdir -p /tmp/site
if [ -f .device-deps/site.tar.xz ]; then tar -C /tmp/site -xJf .device-deps/site.tar.xz; fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/tmp/vig-install.log 2>&1 \
  || { cat /tmp/vig-install.log; echo "vig: editable install failed"; return 1 2>/dev/null || exit 1; }
python3 - <<'PY'
import torch
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA",
      "| torch", torch.__version__)
PY
