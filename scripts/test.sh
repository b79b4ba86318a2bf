#!/usr/bin/env bash
# The second README command: set up and run the whole suite, tier by tier.
#   scripts/test.sh            all tiers that run on this machine (lint, fast, database, browser)
#   scripts/test.sh database   one tier; DATABASE_URL=postgres://... runs the database tier on PostgreSQL
# A tier that collects no test, or skips one, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SIGHTSOUND_FAIL_ON_SKIP=1 TOKENIZERS_PARALLELISM=false
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(lint fast database browser)
for tier in "${tiers[@]}"; do
  echo "=== tier: $tier (${DATABASE_URL:-sqlite}) ==="
  case "$tier" in
    lint) .venv/bin/ruff check . ;;
    fast) "${PYTEST[@]}" tests/pipeline -m "not gpu and not torchvision" ;;
    database)
      # Tests marked `postgres` race several processes on one database: selected only when it is PostgreSQL.
      case "${DATABASE_URL:-}" in
        postgres*) "${PYTEST[@]}" tests/webapp -m "not gpu and not torchvision" ;;
        *) "${PYTEST[@]}" tests/webapp -m "not gpu and not torchvision and not postgres" ;;
      esac ;;
    browser)
      scripts/ensure_chromium.sh
      "${PYTEST[@]}" tests/browser ;;
    gpu) scripts/gpu_checks.sh ;;  # on a GPU machine: the image python, not .venv
    *) echo "unknown tier: $tier" >&2; exit 2 ;;
  esac
done
echo "=== all tiers passed ==="
