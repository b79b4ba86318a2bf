#!/usr/bin/env bash
# Device-machine checks (one prepared run): the `gpu` and `torchvision` tests, with the image's own python3
# (torch + CUDA, torchvision, transformers 5.17; no venv, no PyAV there, so the media conftest is skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import sys, torch, torchvision, transformers; print(sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
python3 -m pytest -p no:cacheprovider -p no:django --noconftest -q -rA \
  tests/pipeline/test_tiny.py tests/pipeline/test_vision.py tests/pipeline/test_tiny_gpu.py \
  -m "gpu or torchvision" 2>&1 | tee "$OUT/pytest.txt"
rc=${PIPESTATUS[0]}
echo "gpu checks exit code: $rc" | tee -a "$OUT/gpu.txt"
exit "$rc"
