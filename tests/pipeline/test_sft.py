from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.sft import AudioSFTCollator, SFTStageConfig, run
from pipeline.training import load_config, load_model_and_processor
from tests.pipeline.training_data import sft_row, tiny_student, tone_items, write_jsonl

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, list[dict]]:
    root = tmp_path_factory.mktemp("sft")
    model = tiny_student(root / "models")
    media = root / "media"
    rows = [sft_row(it, think=f"A tone number {i}.") for i, it in enumerate(tone_items(media))]
    return model, media, write_jsonl(root / "sft.jsonl", rows), rows


def _cfg(model: Path, media: Path, train_file: Path, out: Path, **kw: object) -> SFTStageConfig:
    base = dict(model_name_or_path=str(model), train_file=str(train_file), media_root=str(media), output_dir=str(out),
                per_device_train_batch_size=2, logging_steps=1, save_steps=2, learning_rate=1e-3, seed=3)
    return SFTStageConfig(**(base | kw))  # type: ignore[arg-type]


def test_it_labels_exactly_the_assistant_target(sft_data: tuple) -> None:
    model, media, _, rows = sft_data
    _, processor = load_model_and_processor(str(model))
    batch = AudioSFTCollator(processor, str(media))(rows[:3])
    tok = processor.tokenizer
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    assert batch["input_features"].shape[0] == 3
    assert (batch["labels"][batch["input_ids"] == audio_id] == -100).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    for i, row in enumerate(rows[:3]):
        n_audio = int((batch["input_ids"][i] == audio_id).sum())
        assert n_audio == 25  # 1 s of audio: 100 mel frames -> 50 encoder positions -> 25 pooled tokens
        target = row["messages"][-1]["content"][0]["text"]
        learned = batch["labels"][i][batch["labels"][i] != -100]
        assert tok.decode(learned) == target + "<|im_end|>\n"
        prompt = batch["input_ids"][i][batch["labels"][i] == -100]
        assert "Is the tone high or low?" in tok.decode(prompt)


def test_it_trains_checkpoints_and_resumes_the_step_count(sft_data: tuple, tmp_path: Path) -> None:
    model, media, train_file, _ = sft_data
    seen: list[tuple[int, int, dict]] = []
    first = run(_cfg(model, media, train_file, tmp_path, max_steps=3),
                on_progress=lambda s, t, m: seen.append((s, t, m)))
    assert first.steps == 3 and first.final_loss is not None
    assert (tmp_path / "checkpoint-2").is_dir() and (tmp_path / "checkpoint-3").is_dir()
    assert (Path(first.adapter_dir) / "adapter_config.json").is_file()
    step_metrics = [m for s, _, m in seen if "loss" in m]
    assert [s for s, _, m in seen if "loss" in m] == [1, 2, 3] and all(t == 3 for _, t, _ in seen)
    assert {"loss", "learning_rate", "grad_norm", "tokens_per_second"} <= set(step_metrics[-1])

    seen.clear()
    second = run(_cfg(model, media, train_file, tmp_path, max_steps=5, resume=True),
                 on_progress=lambda s, t, m: seen.append((s, t, m)))
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-3")
    assert second.steps == 5
    assert [s for s, _, m in seen if "loss" in m] == [4, 5]


def test_a_resumed_run_reports_the_run_totals_an_uninterrupted_run_reports(sft_data: tuple, tmp_path: Path) -> None:
    """Found by the fault suite: after a resume TRL's `num_tokens` restarted from zero and HF's closing `train_loss`
    counted only the resumed steps (divided by all of them), so the curves and the summary said less than was done."""
    model, media, train_file, _ = sft_data

    def logged(out: Path, stop_at: int = 99, **kw: object) -> dict[tuple[str, int], float]:
        seen: dict[tuple[str, int], float] = {}

        def on_progress(step: int, total: int, metrics: dict[str, float]) -> bool:
            seen.update({(k, step): v for k, v in metrics.items()})
            return step < stop_at

        run(_cfg(model, media, train_file, out, max_steps=4, **kw), on_progress=on_progress)
        return seen

    whole = logged(tmp_path / "whole")
    logged(tmp_path / "killed", stop_at=2)  # stops with checkpoint-2, as a cancelled (or killed) attempt would
    resumed = logged(tmp_path / "killed", resume=True)
    for key in [("num_tokens", 3), ("num_tokens", 4), ("loss", 4), ("train_loss", 4)]:
        assert resumed[key] == pytest.approx(whole[key], rel=1e-5), key


def test_it_stops_cleanly_when_on_progress_says_no(sft_data: tuple, tmp_path: Path) -> None:
    model, media, train_file, _ = sft_data
    result = run(_cfg(model, media, train_file, tmp_path, max_steps=6, save_steps=100),
                 on_progress=lambda step, total, metrics: step < 2)
    assert result.stopped_early and result.steps == 2
    assert (tmp_path / "checkpoint-2").is_dir()  # a cancelled run leaves something to resume from


def test_it_reads_the_recipes_and_rejects_unknown_fields(tmp_path: Path) -> None:
    for name in ("sft_tiny.yaml", "sft_qwen2_audio_7b.yaml"):
        cfg = load_config(SFTStageConfig, RECIPES / name)
        assert "audio_tower" not in cfg.lora_target_modules and "language_model" in cfg.lora_target_modules
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: m\ntrain_file: t\noutput_dir: o\nlearning_rat: 1.0\n")
    with pytest.raises(ValueError, match="learning_rat"):
        load_config(SFTStageConfig, bad)
    with pytest.raises(ValueError, match="max_steps"):
        SFTStageConfig(model_name_or_path="m", train_file="t", output_dir="o", max_steps=0)


def test_it_keeps_lora_off_the_audio_encoder(sft_data: tuple) -> None:
    from peft import get_peft_model

    from pipeline.training import lora_config

    model, media, train_file, _ = sft_data
    student, _ = load_model_and_processor(str(model))
    peft_model = get_peft_model(student, lora_config(_cfg(model, media, train_file, Path("unused"))))
    lora_names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert lora_names and all("language_model" in n for n in lora_names)
    assert not any("audio_tower" in n for n in lora_names)
    assert torch.is_tensor(next(peft_model.parameters()))
