"""The one progress callback type every stage takes: `on_progress(done, total, metrics)`.

Why one definition: ingest, teacher, validation, training and evaluation all report to the same web-app job
runner, and four local aliases had drifted to three signatures. `metrics` holds numbers (loss, chains_per_s,
accuracy) and, for ingest and validation, a short tag ("stage", "label"); `total` is 0 when unknown. Returning
False (not None) asks a stage that can stop cleanly (training, evaluation) to stop; the others ignore the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ProgressFn"]

ProgressFn = Callable[[int, int, dict[str, Any]], bool | None]
