#!/usr/bin/env bash
# Creates .venv in the project root and installs vig into it (editable) with its test and
# kernel extras. torch 2.14.1 and torchvision 0.29.1 come first, pinned (pip takes them from
# local disk on the project's machines); the rest resolves against that pin.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() {  # quiet, minus this machine's notes on absent local indexes; pip's failure is ours
  local rc=0 err
  err=$(mktemp)
  .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2>"$err" || rc=$?
  grep -v "^WARNING: Location" "$err" >&2 || true
  rm -f "$err"
  return $rc
}
pip install torch==2.14.1 torchvision==0.29.1
pip install -e ".[test,triton,tilelang,cupy]"
.venv/bin/python -c "import vig, torch; print('vig', vig.__version__, '| torch', torch.__version__, '| backends:', vig.available_backends())"
