"""Where the real third-party fixtures live (they never ship in the repo).

Order: $SIGHTSOUND_REAL_FIXTURES, then ../shared next to the checkout, ./shared inside it (the device
machine), then /work/shared (a fresh clone in a temporary folder). Missing data fails loudly at use.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _locate() -> Path:
    if env := os.environ.get("SIGHTSOUND_REAL_FIXTURES"):
        return Path(env)
    for candidate in (ROOT.parent / "shared", ROOT / "shared", Path("/work/shared")):
        if (candidate / "fixtures" / "real").is_dir():
            return candidate / "fixtures" / "real"
    return ROOT.parent / "shared" / "fixtures" / "real"


REAL = _locate()
AVQA_VIDEO_DIR = REAL / "avqa_vggsound" / "video"
