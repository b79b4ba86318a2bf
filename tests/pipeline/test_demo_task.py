"""The learnable demo task (pipeline/demo_task.py): disjoint balanced splits, and the tiny 2 s student learns it from
the audio with the `sft_demo_task` recipe, through the same export rows the web app's snapshots write."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import tiny
from pipeline.demo_task import BANDS, CHOICES, QUESTION, build_task, fingerprint
from pipeline.export import grpo_row, sft_row
from pipeline.jsonl import iter_jsonl
from pipeline.scoring import evaluate_accuracy
from pipeline.sft import SFTStageConfig
from pipeline.sft import run as sft_run
from tests.pipeline.training_data import write_jsonl

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "sft_demo_task.yaml"


def _records(rows: list[dict[str, Any]], chains: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """What a snapshot freezes for each question (and its reference chain), as pipeline.export reads it."""
    return [{"question_id": i, "chain_id": i, "audio_path": r["audio_id"], "question": r["question"],
             "choices": r["choices"], "answer_index": r["choices"].index(r["answer"]), "split": r["split"],
             "text": (chains or {}).get(r["id"], "")} for i, r in enumerate(rows)]


def test_it_writes_balanced_disjoint_splits_that_only_the_audio_separates(tmp_path: Path) -> None:
    files = build_task(tmp_path, n_train=40, n_test=20)
    train, test = json.loads(files.train.read_text()), json.loads(files.test.read_text())
    assert Counter(r["answer"] for r in train) == {name: 10 for name, _ in BANDS}
    assert Counter(r["answer"] for r in test) == {name: 5 for name, _ in BANDS}
    assert {(r["question"], tuple(r["choices"])) for r in train + test} == {(QUESTION, tuple(CHOICES))}
    assert not {fingerprint(tmp_path / r["audio_id"]) for r in train} & {
        fingerprint(tmp_path / r["audio_id"]) for r in test}
    chains = list(iter_jsonl(files.chains))
    assert [c["question"] for c in chains] == [r["id"] for r in train]
    assert all(c["chain"].endswith(f"<answer>{'ABCD'[CHOICES.index(r['answer'])]}</answer>")
               for c, r in zip(chains, train, strict=True))
    before = {p: p.read_bytes() for p in (files.train, files.test, files.chains)}
    build_task(tmp_path, n_train=40, n_test=20)
    assert {p: p.read_bytes() for p in before} == before, "rebuilding must give the same files"


@pytest.mark.learning
def test_it_beats_the_pretrained_student_on_the_test_split_from_the_audio(tmp_path: Path) -> None:
    files = build_task(tmp_path / "media")
    train, test = json.loads(files.train.read_text()), json.loads(files.test.read_text())
    chains = {c["question"]: c["chain"] for c in iter_jsonl(files.chains)}
    student = tiny.build_model("tiny-qwen2-audio-2s", tmp_path / "student")
    recipe = {k: v for k, v in yaml.safe_load(RECIPE.read_text()).items()
              if k not in {"model_name_or_path", "train_file", "media_root", "output_dir"}}
    train_file = write_jsonl(tmp_path / "sft.jsonl", [sft_row(r) for r in _records(train, chains)])
    result = sft_run(SFTStageConfig(model_name_or_path=str(student), train_file=str(train_file),
                                    media_root=str(tmp_path / "media"), output_dir=str(tmp_path / "sft"), **recipe))
    items = [grpo_row(r) for r in _records(test)]
    media = str(tmp_path / "media")
    base = evaluate_accuracy(str(student), items, media_root=media, batch_size=50, max_new_tokens=64)
    trained = evaluate_accuracy(result.adapter_dir, items, media_root=media, batch_size=50, max_new_tokens=64)
    silent = evaluate_accuracy(result.adapter_dir, items, media_root=media, batch_size=50, max_new_tokens=64,
                               zero_audio=True)
    summary = (f"pretrained {base.accuracy:.2f}, SFT {trained.accuracy:.2f}, SFT with silenced audio "
               f"{silent.accuracy:.2f} (n={trained.n} test items)")
    print(f"DEMO TASK: {summary}")
    assert trained.n == 100
    assert trained.accuracy >= 0.8 > base.accuracy, summary
    assert silent.accuracy <= 0.4, summary  # 4 balanced bands: without the sound it is at most a lucky band
