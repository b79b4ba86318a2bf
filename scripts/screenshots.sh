#!/usr/bin/env bash
# Retakes the README's screenshot of the review page (docs/img/review.png) from the real page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/browser/test_screenshots.py::test_it_shows_the_review_page_with_its_waveform_and_chains
cp tests/browser/artifacts/review.png docs/img/review.png
echo "docs/img/review.png updated"
