"""The validation curve: accuracy on a held-out split every N steps, and the best adapter kept for the final eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.grpo import GRPOStageConfig
from pipeline.grpo import run as grpo_run
from pipeline.scoring import evaluate_accuracy
from pipeline.sft import SFTStageConfig
from pipeline.sft import run as sft_run
from pipeline.trajectory import best_adapter
from tests.pipeline.training_data import sft_row, tiny_student, tone_items, write_jsonl


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path, list[dict], list[dict]]:
    root = tmp_path_factory.mktemp("trajectory")
    media = root / "media"
    items = tone_items(media, n=12)
    train, val = items[:8], items[8:]  # disjoint: the validation split is never trained on
    return (tiny_student(root / "models"), media, write_jsonl(root / "sft.jsonl", [sft_row(it) for it in train]),
            write_jsonl(root / "val.jsonl", val), val, train)


def test_it_scores_the_validation_split_every_n_steps_and_keeps_the_best_adapter(data: tuple, tmp_path: Path) -> None:
    model, media, train_file, val_file, val, _ = data
    seen: list[tuple[int, dict]] = []
    cfg = SFTStageConfig(model_name_or_path=str(model), train_file=str(train_file), media_root=str(media),
                         output_dir=str(tmp_path), per_device_train_batch_size=2, logging_steps=1, save_steps=1,
                         save_total_limit=1, learning_rate=1e-3, max_steps=4, val_file=str(val_file),
                         val_every_steps=2, val_max_new_tokens=8, val_batch_size=4)
    result = sft_run(cfg, on_progress=lambda s, t, m: seen.append((s, m)))
    assert result.steps == 4
    curve = [(s, m["val/accuracy"]) for s, m in seen if "val/accuracy" in m]
    assert [s for s, _ in curve] == [2, 4]
    trajectory = json.loads((tmp_path / "trajectory.json").read_text())
    assert [tuple(p) for p in trajectory["points"]] == curve and trajectory["n"] == len(val)
    best_step, best_acc = max(curve, key=lambda p: (p[1], -p[0]))
    assert (trajectory["best_step"], trajectory["best_accuracy"]) == (best_step, best_acc)
    kept = best_adapter(tmp_path)
    assert kept is not None and sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4"]
    rescored = evaluate_accuracy(kept, val, media_root=str(media), batch_size=4, max_new_tokens=8)
    assert rescored.accuracy == best_acc  # the kept adapter is the one that scored best, not the last one


def test_it_adds_the_curve_to_grpo_too(data: tuple, tmp_path: Path) -> None:
    model, media, _, val_file, _, train_items = data
    train = write_jsonl(tmp_path / "grpo.jsonl", train_items)
    seen: list[tuple[int, dict]] = []
    cfg = GRPOStageConfig(model_name_or_path=str(model), train_file=str(train), media_root=str(media),
                          output_dir=str(tmp_path / "out"), max_steps=2, num_generations=2,
                          per_device_train_batch_size=2, max_completion_length=8, logging_steps=1, save_steps=2,
                          val_file=str(val_file), val_every_steps=1, val_max_new_tokens=4)
    grpo_run(cfg, on_progress=lambda s, t, m: seen.append((s, m)))
    assert [s for s, m in seen if "val/accuracy" in m] == [1, 2]
    assert best_adapter(tmp_path / "out") is not None


def test_it_refuses_a_validation_period_without_a_validation_split() -> None:
    with pytest.raises(ValueError, match="val_file"):
        SFTStageConfig(model_name_or_path="m", train_file="t", output_dir="o", val_every_steps=5)
