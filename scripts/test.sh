#!/usr/bin/env bash
# The second README command: set up and run the whole suite, tier by tier.
#   scripts/test.sh            all tiers that run on this machine (lint, fast, database, learning, browser, vllm)
#   scripts/test.sh database   one tier; DATABASE_URL=postgres://... runs the database tier on PostgreSQL
#   DATABASE_URL=postgres://... scripts/test.sh faults   the fault-injection suite (PostgreSQL only)
# A tier that collects no test, or skips one, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SIGHTSOUND_FAIL_ON_SKIP=1 TOKENIZERS_PARALLELISM=false
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(lint fast database learning browser vllm)
for tier in "${tiers[@]}"; do
  echo "=== tier: $tier (${DATABASE_URL:-sqlite}) ==="
  case "$tier" in
    lint)  # style, the import-linter contracts, and the cycle test import-linter cannot express
      .venv/bin/ruff check . && .venv/bin/lint-imports --no-cache && "${PYTEST[@]}" tests/lint ;;
    fast) "${PYTEST[@]}" tests/pipeline -m "not gpu and not torchvision and not learning" ;;
    learning)  # a tiny student trained until it has learnt (from the audio): minutes of CPU, so once, on SQLite
      "${PYTEST[@]}" tests/pipeline -m "learning and not gpu and not torchvision"
      "${PYTEST[@]}" tests/webapp -m "learning and not gpu and not torchvision" ;;
    database)
      # Tests marked `postgres` race several processes on one database: selected only when it is PostgreSQL.
      # Tests marked `one_database` spend their minutes in models, not SQL: run once, on SQLite.
      case "${DATABASE_URL:-}" in
        postgres*) "${PYTEST[@]}" tests/webapp -m "not gpu and not torchvision and not faults and not learning and not one_database" ;;
        *) "${PYTEST[@]}" tests/webapp -m "not gpu and not torchvision and not postgres and not faults and not learning" ;;
      esac ;;
    faults)
      # Real faults in real processes (docs/reliability.md): SIGKILLed work-horses, a restarted Redis, terminated
      # PostgreSQL connections. PostgreSQL only; prints the summary table the docs reproduce.
      case "${DATABASE_URL:-}" in
        postgres*) "${PYTEST[@]}" tests/webapp/faults -m faults ;;
        *) echo "the faults tier needs DATABASE_URL=postgres://..." >&2; exit 2 ;;
      esac ;;
    browser)
      scripts/ensure_chromium.sh
      "${PYTEST[@]}" tests/browser ;;
    vllm)
      # Its own environment (scripts/setup_vllm.sh says why); each file in its own process, because in-process
      # vLLM engines share global state: a file shares its engines, and closing one must not break another's.
      scripts/setup_vllm.sh
      export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 \
             VLLM_LOGGING_LEVEL=WARNING OMP_NUM_THREADS=2
      export VLLM_CACHE_ROOT=$PWD/var/vllm-cache VLLM_RPC_BASE_PATH=$PWD/var/vllm-rpc
      mkdir -p "$VLLM_RPC_BASE_PATH"
      for f in tests/vllm/test_*.py; do
        .venv-vllm/bin/python -m pytest -q -p no:cacheprovider "$f"
      done ;;
    gpu) scripts/gpu_checks.sh ;;  # on a GPU machine: the image python, not .venv
    *) echo "unknown tier: $tier" >&2; exit 2 ;;
  esac
done
echo "=== all tiers passed ==="
