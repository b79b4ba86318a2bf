"""Evaluation a reviewer would accept: explicit greedy decoding, room to finish, rates, CIs, a silent pass, MMAU."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.datasets.mmau_scoring import score_rows
from pipeline.evaluate import EvalConfig, run
from pipeline.scoring import evaluate_accuracy
from tests.pipeline.training_data import tiny_student, tone_items, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_student(tmp_path_factory.mktemp("eval-student"))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("eval-media")
    return root, tone_items(root, n=4)


def test_it_gives_chains_at_least_the_training_completion_budget_by_default() -> None:
    grpo = yaml.safe_load((ROOT / "recipes" / "grpo_qwen2_audio_7b.yaml").read_text())
    cfg = EvalConfig(model_name_or_path="m", items_file="i.jsonl", output_dir="o")
    assert cfg.max_new_tokens >= grpo["max_completion_length"]


def test_it_ignores_the_checkpoints_sampling_defaults(student: Path, media: tuple[Path, list[dict]],
                                                      tmp_path: Path) -> None:
    root, items = media
    penalised = shutil.copytree(student, tmp_path / "penalised")
    gen_cfg = json.loads((penalised / "generation_config.json").read_text()) \
        if (penalised / "generation_config.json").is_file() else {}
    gen_cfg.update({"repetition_penalty": 50.0, "no_repeat_ngram_size": 1})
    (penalised / "generation_config.json").write_text(json.dumps(gen_cfg))
    plain = evaluate_accuracy(student, items, media_root=str(root), batch_size=4, max_new_tokens=16)
    odd = evaluate_accuracy(penalised, items, media_root=str(root), batch_size=4, max_new_tokens=16)
    assert [p["completion"] for p in odd.predictions] == [p["completion"] for p in plain.predictions]
    assert odd.generation["checkpoint_defaults_ignored"]["repetition_penalty"] == 50.0
    assert odd.generation["repetition_penalty"] == 1.0 and odd.generation["do_sample"] is False


def test_it_records_finish_reasons_parse_failures_cis_and_a_silent_pass(
    student: Path, media: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    root, items = media
    items = [{**it, "question_type": "Pitch" if i % 2 else "Loudness"} for i, it in enumerate(items)]
    cfg = EvalConfig(model_name_or_path=str(student), items_file=str(write_jsonl(tmp_path / "items.jsonl", items)),
                     output_dir=str(tmp_path / "out"), media_root=str(root), max_new_tokens=6, batch_size=2)
    result = run(cfg)
    rows = [json.loads(line) for line in Path(result.predictions_path).read_text().splitlines()]
    assert len(rows) == result.n == 4
    assert {r["finish_reason"] for r in rows} <= {"stop", "length"}
    assert all("completion_silent" in r and "correct_silent" in r and "parsed" in r for r in rows)
    s = result.summary
    assert s["truncation_rate"] == sum(r["finish_reason"] == "length" for r in rows) / 4
    assert s["parse_failure_rate"] == sum(not r["parsed"] for r in rows) / 4
    assert s["ci_low"] <= s["accuracy"] <= s["ci_high"]
    assert s["audio_gain"] == pytest.approx(s["accuracy"] - s["silent_accuracy"])
    assert set(result.per_slice) == {"question_type=Loudness", "question_type=Pitch"}
    assert all({"ci_low", "truncation_rate", "silent_accuracy"} <= set(v) for v in result.per_slice.values())
    assert result.generation["max_new_tokens"] == 6


def test_it_writes_mmau_predictions_whose_official_score_is_the_apps(
    student: Path, media: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    root, items = media
    mmau = [{**it, "benchmark": "mmau", "question": "Is the tone high or low?", "task": "sound",
             "difficulty": "easy", "sub-category": "Pitch"} for it in items]
    cfg = EvalConfig(model_name_or_path=str(student), items_file=str(write_jsonl(tmp_path / "mmau.jsonl", mmau)),
                     output_dir=str(tmp_path / "out"), media_root=str(root), max_new_tokens=6, silent_pass=False)
    result = run(cfg)
    rows = [json.loads(line) for line in Path(result.predictions_path).read_text().splitlines()]
    assert all("model_output" in r and r["task"] == "sound" for r in rows)
    official = score_rows([{**r, "answer": r["choices"]["AB".index(r["answer"])]} for r in rows])
    assert official.correct == sum(r["correct"] for r in rows) and official.total == result.n


def test_it_runs_from_the_command_line(student: Path, media: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, items = media
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(yaml.safe_dump({
        "model_name_or_path": str(student), "items_file": str(write_jsonl(tmp_path / "items.jsonl", items[:2])),
        "output_dir": str(tmp_path / "out"), "media_root": str(root), "max_new_tokens": 4, "silent_pass": False}))
    result = subprocess.run([sys.executable, "-m", "pipeline.evaluate", "run", "--config", str(recipe)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 2
    assert (tmp_path / "out" / "predictions.jsonl").is_file()


def test_it_reports_audio_cut_by_the_30s_window_and_a_visual_only_slice(
    student: Path, media: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    from pipeline.synth import render_tones, write_wav

    root, items = media
    write_wav(root / "long.wav", render_tones([(0.5, 40.0, 880.0)], duration=40.0), 16000)
    long_item = {**items[1], "id": "long", "audio_path": "long.wav", "question_type": "Visual/Counting"}
    short = {**items[0], "question_type": "Audio/Counting"}
    items_file = str(write_jsonl(tmp_path / "i.jsonl", [short, long_item]))
    cfg = EvalConfig(model_name_or_path=str(student), items_file=items_file,
                     output_dir=str(tmp_path / "out"), media_root=str(root), max_new_tokens=4, silent_pass=False)
    result = run(cfg)
    rows = {r["id"]: r for r in map(json.loads, Path(result.predictions_path).read_text().splitlines())}
    assert rows["long"]["audio_cut"] is True and rows[short["id"]]["audio_cut"] is False
    assert result.summary["audio_cut_rate"] == 0.5
    assert result.per_slice["modality=visual-only"]["n"] == 1 and result.per_slice["modality=audio"]["n"] == 1
