# Source this at the start of every command on the lent GPU machine (the device tool), from the
# project root:   source tools/device-setup.sh
# It unpacks .device-deps (TileLang, fla; carry ".device-deps" in the run) and installs this
# project in editable mode, with no network and no dependency resolution (the GPU image already
# has torch, triton, cupy, timm, einops, pytest, hypothesis, pytest-benchmark).
# Idempotent: a second source on the same machine (gpu-run.sh sourced by a script that sourced this
# already, or two steps side by side) unpacks and installs nothing, because rewriting the shared
# libraries under /tmp/site while another process has them mapped kills that process with SIGBUS
# (session 12, call 1: every parity process beside a second gpu-run.sh died with "Bus error").
mkdir -p /tmp/site
if [ -f .device-deps/site.tar.xz ]; then
  stamp="$(stat -c '%s %Y' .device-deps/site.tar.xz)"
  if [ "$(cat /tmp/site/.vig-stamp 2>/dev/null)" != "$stamp" ]; then
    tar -C /tmp/site -xJf .device-deps/site.tar.xz && echo "$stamp" > /tmp/site/.vig-stamp
  fi
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
if [ "$(cat /tmp/vig-installed 2>/dev/null)" != "$PWD" ]; then
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/tmp/vig-install.log 2>&1 \
    || { cat /tmp/vig-install.log; echo "vig: editable install failed"; return 1 2>/dev/null || exit 1; }
  echo "$PWD" > /tmp/vig-installed
fi
python3 - <<'PY'
import torch
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA",
      "| torch", torch.__version__)
PY
