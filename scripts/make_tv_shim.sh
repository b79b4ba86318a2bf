#!/usr/bin/env bash
# Builds torchvision 0.28.0+cpushim: PyPI's torchvision 0.28.0 wheel (a CUDA build whose _C.so cannot load beside
# the CPU torch) with _C.so removed and the two operator schemas torch's fake registrations need defined in Python.
# Only the vLLM tier uses it, because vLLM's Qwen2.5-VL path and transformers' video processor import torchvision;
# no CPU torchvision 0.28 is reachable from PyPI (docs/vllm-cpu.md §torchvision). Detection ops (nms) raise.
#   scripts/make_tv_shim.sh OUT_DIR      -> OUT_DIR/torchvision-0.28.0+cpushim-cp311-cp311-manylinux_2_28_x86_64.whl
set -euo pipefail
OUT=$(realpath -m "${1:?usage: make_tv_shim.sh OUT_DIR}")
PY=${PYTHON:-python3}
NAME=torchvision-0.28.0+cpushim-cp311-cp311-manylinux_2_28_x86_64.whl
[ -f "$OUT/$NAME" ] && { echo "$OUT/$NAME"; exit 0; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
"$PY" -m pip download -q --no-deps --disable-pip-version-check -d "$WORK/dl" torchvision==0.28.0 2>&1 | { grep -v "^WARNING: Location" || true; }
"$PY" -m pip install -q --disable-pip-version-check --target "$WORK/tools" wheel==0.45.1 2>&1 | { grep -v "^WARNING: Location" || true; }
export PYTHONPATH="$WORK/tools"
"$PY" -m wheel unpack "$WORK"/dl/torchvision-0.28.0-*.whl -d "$WORK/src" >/dev/null
cd "$WORK/src/torchvision-0.28.0"
cat > torchvision/_cpu_shim.py <<'PYEOF'
"""Operator schemas that torchvision's fake registrations need when its CUDA-built _C cannot load."""
import torch

_lib = torch.library.Library("torchvision", "DEF")
for _schema in ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"):
    _lib.define(_schema)
PYEOF
"$PY" - <<'PYEOF'
p = "torchvision/extension.py"
s = open(p).read()
old = 'if _load_library("_C"):\n\n    def _has_ops():  # noqa: F811\n        return True\n'
assert old in s, "torchvision/extension.py changed: update make_tv_shim.sh"
open(p, "w").write(s.replace(old, old + "\nelse:\n    from . import _cpu_shim  # noqa: F401\n"))
PYEOF
rm torchvision/_C.so
sed -i "s/__version__ = '0.28.0+cu130'/__version__ = '0.28.0+cpushim'/" torchvision/version.py
mv torchvision-0.28.0.dist-info torchvision-0.28.0+cpushim.dist-info
sed -i 's/^Version: 0.28.0$/Version: 0.28.0+cpushim/' torchvision-0.28.0+cpushim.dist-info/METADATA
cd .. && mv torchvision-0.28.0 torchvision-0.28.0+cpushim
"$PY" -m wheel pack torchvision-0.28.0+cpushim -d "$OUT" >/dev/null
echo "$OUT/$NAME"
