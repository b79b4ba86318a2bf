"""The audio DPO stage: the clip's features reach the policy and the reference forwards, and runs resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from peft.tuners.lora import LoraLayer

from pipeline.dpo import AudioDPOTrainer, AudioPreferenceCollator, DPOStageConfig, run
from pipeline.training import load_config, load_model_and_processor
from tests.pipeline.training_data import preference_row, tiny_student, tone_items, write_jsonl

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def pairs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chosen claims the tone's real pitch, rejected the other one."""
    words = {"A": "low", "B": "high"}
    rows = []
    for item in items:
        right, wrong = item["answer"], "AB"[item["answer"] == "A"]
        rows.append(preference_row(item, f"<think>a {words[right]} tone</think><answer>{right}</answer>",
                                   f"<think>a {words[wrong]} tone</think><answer>{wrong}</answer>"))
    return rows


@pytest.fixture(scope="module")
def dpo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("dpo")
    model = tiny_student(root / "models")
    media = root / "media"
    return model, media, write_jsonl(root / "preferences.jsonl", pairs(tone_items(media)))


def _cfg(data: tuple, out: Path, **kw: Any) -> DPOStageConfig:
    model, media, train_file = data
    base = dict(model_name_or_path=str(model), train_file=str(train_file), media_root=str(media), output_dir=str(out),
                max_steps=2, per_device_train_batch_size=4, logging_steps=1, save_steps=1, seed=5,
                learning_rate=1e-3)
    return DPOStageConfig(**(base | kw))


def test_it_collates_chosen_then_rejected_with_the_prompts_audio_twice(dpo_data: tuple) -> None:
    model, media, train_file = dpo_data
    _, processor = load_model_and_processor(str(model))
    from pipeline.jsonl import read_jsonl

    rows = read_jsonl(train_file)[:3]
    batch = AudioPreferenceCollator(processor, str(media))(rows)
    assert batch["input_ids"].shape[0] == 6 and batch["input_features"].shape[0] == 6
    assert torch.equal(batch["input_features"][:3], batch["input_features"][3:])
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert ((batch["input_ids"] == audio_id) & (batch["completion_mask"] == 1)).sum() == 0
    assert (batch["input_ids"] == audio_id).sum(dim=1).min() > 1  # the audio expanded to its frames
    chosen = processor.tokenizer.decode(batch["input_ids"][0][batch["completion_mask"][0] == 1])
    assert chosen.startswith("<think>a low tone</think><answer>A</answer>")


def test_it_feeds_the_audio_to_the_policy_and_the_adapter_disabled_reference(
    dpo_data: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    init = AudioDPOTrainer.__init__

    def spied_init(trainer: AudioDPOTrainer, *a: Any, **kw: Any) -> None:
        init(trainer, *a, **kw)
        towers = [m for m in trainer.model.modules() if type(m).__name__ == "Qwen2AudioEncoder"]
        assert len(towers) == 1

        def hook(module: Any, args: tuple, output: Any) -> None:
            peft_model = trainer.accelerator.unwrap_model(trainer.model)
            lora = next(m for m in peft_model.modules() if isinstance(m, LoraLayer))
            calls.append({"grad": torch.is_grad_enabled(), "adapter_off": bool(lora.disable_adapters),
                          "std": float(args[0].float().std())})

        towers[0].register_forward_hook(hook)

    monkeypatch.setattr(AudioDPOTrainer, "__init__", spied_init)
    result = run(_cfg(dpo_data, tmp_path))
    assert result.steps == 2
    policy = [c for c in calls if c["grad"]]
    ref = [c for c in calls if not c["grad"]]
    assert len(policy) == 2 and len(ref) == 2  # one policy and one reference forward per step, each with the audio
    assert all(not c["adapter_off"] for c in policy) and all(c["adapter_off"] for c in ref)
    assert min(c["std"] for c in calls) > 0.01  # real log-mel features
    assert result.final_margin is not None  # TRL's rewards/margins reached on_progress
    assert (Path(result.adapter_dir) / "adapter_config.json").is_file()


def test_it_refuses_a_batch_without_audio_features(dpo_data: tuple, tmp_path: Path) -> None:
    from pipeline.dpo import build_trainer

    trainer = build_trainer(_cfg(dpo_data, tmp_path))
    batch = trainer.data_collator([trainer.train_dataset[0]])
    del batch["input_features"]
    with pytest.raises(RuntimeError, match="placeholders without audio"):
        trainer.compute_loss(trainer.model, batch)


def test_it_resumes_from_its_last_checkpoint(dpo_data: tuple, tmp_path: Path) -> None:
    run(_cfg(dpo_data, tmp_path, max_steps=1))
    result = run(_cfg(dpo_data, tmp_path, max_steps=2, resume=True))
    assert result.resumed_from and result.resumed_from.endswith("checkpoint-1") and result.steps == 2


def test_it_validates_its_config_and_reads_the_recipe() -> None:
    cfg = load_config(DPOStageConfig, RECIPES / "dpo_tiny.yaml")
    assert cfg.beta > 0 and "language_model" in cfg.lora_target_modules
    with pytest.raises(ValueError, match="beta"):
        load_config(DPOStageConfig, RECIPES / "dpo_tiny.yaml", beta=0)
