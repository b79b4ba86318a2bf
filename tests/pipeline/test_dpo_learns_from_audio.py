"""DPO on hallucination pairs must raise the held-out chosen–rejected margin, and only through the audio (issue 16).

Pairs (tests/pipeline/dpo_learning_task.py): the demo task's four pitch bands; chosen claims the clip's band,
rejected another band, the prompt text is the same everywhere, and every ordered (right, wrong) band pair occurs
equally often in the held-out set. A model that ignores the audio therefore cannot move the held-out mean margin
(log p(band b) − log p(band w) averages to zero over all ordered pairs), nor beat half the pairs. DPO from the base
student (fresh LoRA, reference = adapter disabled) on real clips must raise both; the same DPO on silent copies of
the clips (same texts, same lengths) must not.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import Any

import pytest

from pipeline.dpo import DPOStageConfig, preference_margins, run
from pipeline.training import load_model_and_processor
from tests.pipeline.dpo_learning_task import band_pairs
from tests.pipeline.test_learns_from_audio import build_student
from tests.pipeline.training_data import write_jsonl

log = logging.getLogger(__name__)


def _margins(model: Path, media: Path, rows: list[dict[str, Any]], adapter: str | None = None) -> list[float]:
    student, processor = load_model_and_processor(str(model))
    if adapter is not None:
        from peft import PeftModel

        student = PeftModel.from_pretrained(student, adapter)
    return preference_margins(student, processor, rows, str(media))


def _dpo(root: Path, name: str, model: Path, media: Path, rows: list[dict[str, Any]]) -> str:
    result = run(DPOStageConfig(
        model_name_or_path=str(model), train_file=str(write_jsonl(root / f"{name}.jsonl", rows)),
        media_root=str(media), output_dir=str(root / name), lora_r=16, lora_alpha=32, lora_dropout=0.0,
        learning_rate=2e-3, warmup_steps=0, max_steps=40, per_device_train_batch_size=16, beta=0.1, seed=7,
        save_steps=1000, logging_steps=10))
    log.info("%s: training margin %s", name, result.final_margin)
    return result.adapter_dir


@pytest.mark.learning
def test_dpo_raises_the_held_out_margin_only_when_it_hears_the_audio(tmp_path: Path) -> None:
    model = build_student(tmp_path / "student")
    media = tmp_path / "media"
    train = band_pairs(media, "train", 8, seed=1)  # 96 pairs
    silent = band_pairs(media, "silent", 8, seed=1, silent=True)  # the same texts over silence
    held_out = band_pairs(media, "heldout", 4, seed=2)  # 48 pairs, 4 of each ordered band pair
    assert [(r["right"], r["wrong"]) for r in train] == [(r["right"], r["wrong"]) for r in silent]

    before = _margins(model, media, held_out)
    gains = {}
    for name, rows in (("real", train), ("silent", silent)):
        after = _margins(model, media, held_out, _dpo(tmp_path, name, model, media, rows))
        gains[name] = (statistics.mean(a - b for a, b in zip(after, before, strict=True)),
                       sum(a > 0 for a in after) / len(after))
    log.info("held-out margin before %.3f (%.2f positive); gain, share positive after: %s",
             statistics.mean(before), sum(b > 0 for b in before) / len(before), gains)
    assert gains["real"][0] > 2.0 and gains["real"][1] >= 0.65, gains
    assert gains["silent"][0] < 1.0 and gains["silent"][1] <= 0.6, gains
