from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from pipeline import grpo
from pipeline.grpo import AudioGRPOTrainer, GRPOStageConfig, run
from pipeline.sft import SFTStageConfig
from pipeline.sft import run as sft_run
from pipeline.training import load_config
from tests.pipeline.training_data import sft_row, tiny_student, tone_items, write_jsonl

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="module")
def grpo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """Tiny student, 8 tone questions, and a 2-step SFT adapter to start from (so a "ref" adapter exists)."""
    root = tmp_path_factory.mktemp("grpo")
    model = tiny_student(root / "models")
    media = root / "media"
    items = tone_items(media)
    sft = sft_run(SFTStageConfig(model_name_or_path=str(model), media_root=str(media), output_dir=str(root / "sft"),
                                 train_file=str(write_jsonl(root / "sft.jsonl", [sft_row(i) for i in items])),
                                 max_steps=2, per_device_train_batch_size=4, save_steps=100))
    return model, media, write_jsonl(root / "grpo.jsonl", items), sft.adapter_dir


def _cfg(data: tuple, out: Path, **kw: Any) -> GRPOStageConfig:
    model, media, train_file, adapter = data
    base = dict(model_name_or_path=str(model), adapter=adapter, train_file=str(train_file), media_root=str(media),
                output_dir=str(out), max_steps=2, per_device_train_batch_size=8, num_generations=8, beta=0.04,
                max_completion_length=12, logging_steps=1, save_steps=100, seed=5)
    return GRPOStageConfig(**(base | kw))


class AudioSpy:
    """Counts audio-tower forwards, split by the log-prob pass that caused them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes: list[dict[str, Any]] = []
        self.tower_calls = 0
        self.feature_std: list[float] = []
        self.rollout_tower_calls: list[int] = []
        spy = self
        logps = AudioGRPOTrainer._get_per_token_logps_and_entropies
        rollouts = AudioGRPOTrainer._generate_rollouts
        init = AudioGRPOTrainer.__init__

        def counted_init(trainer: AudioGRPOTrainer, *a: Any, **kw: Any) -> None:
            init(trainer, *a, **kw)
            towers = [m for m in trainer.model.modules() if type(m).__name__ == "Qwen2AudioEncoder"]
            assert len(towers) == 1
            towers[0].register_forward_hook(spy._hook)

        def counted_logps(trainer: AudioGRPOTrainer, model: Any, *a: Any, **kw: Any) -> Any:
            before = spy.tower_calls
            out = logps(trainer, model, *a, **kw)
            spy.passes.append({"grad": torch.is_grad_enabled(), "tower_calls": spy.tower_calls - before,
                               "adapter": trainer.accelerator.unwrap_model(trainer.model).active_adapter})
            return out

        def counted_rollouts(trainer: AudioGRPOTrainer, batch: Any) -> Any:
            before = spy.tower_calls
            out = rollouts(trainer, batch)
            spy.rollout_tower_calls.append(spy.tower_calls - before)
            return out

        monkeypatch.setattr(AudioGRPOTrainer, "__init__", counted_init)
        monkeypatch.setattr(AudioGRPOTrainer, "_get_per_token_logps_and_entropies", counted_logps)
        monkeypatch.setattr(AudioGRPOTrainer, "_generate_rollouts", counted_rollouts)

    def _hook(self, module: Any, args: tuple, output: Any) -> None:
        self.tower_calls += 1
        self.feature_std.append(float(args[0].float().std()))


def test_it_feeds_the_audio_to_generation_and_every_logprob_forward(
    grpo_data: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = AudioSpy(monkeypatch)
    result = run(_cfg(grpo_data, tmp_path, beta=0.04))
    assert result.steps == 2
    assert spy.rollout_tower_calls and all(n >= 1 for n in spy.rollout_tower_calls)
    ref = [p for p in spy.passes if not p["grad"]]
    policy = [p for p in spy.passes if p["grad"]]
    assert len(ref) == 2 and len(policy) == 2  # beta > 0: one reference pass and one policy pass per step
    assert all(p["tower_calls"] >= 1 for p in spy.passes), spy.passes
    assert all(p["adapter"] == "ref" for p in ref)  # continuing an adapter: the frozen copy is the reference
    assert min(spy.feature_std) > 0.01  # real log-mel features (silence would give a constant, std 0)
    assert (Path(result.adapter_dir) / "adapter_config.json").is_file()
    assert not (Path(result.adapter_dir) / "ref").exists()


def test_it_skips_the_reference_pass_without_kl(grpo_data: tuple, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spy = AudioSpy(monkeypatch)
    run(_cfg(grpo_data, tmp_path, beta=0.0, adapter=None, max_steps=1))  # fresh LoRA on the base model
    assert [p["grad"] for p in spy.passes] == [True] and spy.passes[0]["tower_calls"] >= 1


def test_it_has_a_loss_gradient_with_respect_to_the_input_features(
    grpo_data: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grads: list[float] = []
    compute = AudioGRPOTrainer._compute_loss

    def with_feature_grad(trainer: AudioGRPOTrainer, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        feats = inputs["input_features"].detach().clone().requires_grad_(True)
        generator = torch.Generator().manual_seed(0)  # a non-degenerate advantage, whatever the rewards were
        advantages = torch.randn(inputs["advantages"].shape, generator=generator).to(inputs["advantages"])
        loss = compute(trainer, model, {**inputs, "input_features": feats, "advantages": advantages})
        (grad,) = torch.autograd.grad(loss, feats, retain_graph=True)
        grads.append(float(grad.abs().sum()))
        return loss

    monkeypatch.setattr(AudioGRPOTrainer, "_compute_loss", with_feature_grad)
    run(_cfg(grpo_data, tmp_path, max_steps=1))
    assert grads and all(g > 0 for g in grads), grads


def test_it_resumes_from_its_checkpoint_and_reports_rewards(grpo_data: tuple, tmp_path: Path) -> None:
    seen: list[tuple[int, dict]] = []
    first = run(_cfg(grpo_data, tmp_path, save_steps=1, max_steps=1), on_progress=lambda s, t, m: seen.append((s, m)))
    assert first.steps == 1 and (tmp_path / "checkpoint-1").is_dir()
    metrics = seen[0][1]
    assert {"reward", "rewards/accuracy_reward/mean", "rewards/format_reward/mean", "kl",
            "completions/mean_length"} <= set(metrics)
    second = run(_cfg(grpo_data, tmp_path, save_steps=1, max_steps=2, resume=True))
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-1") and second.steps == 2


def test_it_validates_its_config_and_reads_the_recipes() -> None:
    for name in ("grpo_tiny.yaml", "grpo_qwen2_audio_7b.yaml", "grpo_tiny_vllm.yaml", "grpo_qwen2_audio_7b_vllm.yaml",
                 "grpo_r1aqa_tiny.yaml", "grpo_r1aqa_qwen2_audio_7b.yaml"):
        cfg = load_config(GRPOStageConfig, RECIPES / name)
        assert cfg.reward_funcs and cfg.num_generations >= 2
        assert cfg.rollout_backend == ("vllm" if "vllm" in name else "generate")
    with pytest.raises(ValueError, match="rollout_backend"):
        GRPOStageConfig(model_name_or_path="m", train_file="t", output_dir="o", rollout_backend="sglang")
    with pytest.raises(ValueError, match="unknown vllm rollout option"):
        GRPOStageConfig(model_name_or_path="m", train_file="t", output_dir="o", vllm_options={"gpu_mem": 0.3})
    with pytest.raises(ValueError, match="unknown reward function"):
        GRPOStageConfig(model_name_or_path="m", train_file="t", output_dir="o", reward_funcs=["accurate"])
    with pytest.raises(ValueError, match="multiple of num_generations"):
        GRPOStageConfig(model_name_or_path="m", train_file="t", output_dir="o", per_device_train_batch_size=6)
    with pytest.raises(ValueError, match="one weight per reward"):
        GRPOStageConfig(model_name_or_path="m", train_file="t", output_dir="o", per_device_train_batch_size=8,
                        reward_weights=[1.0])
    assert grpo.AUDIO_KEYS == ("input_features", "feature_attention_mask")


def test_it_gives_lora_recipes_lora_learning_rates_with_their_reason() -> None:
    """A LoRA GRPO at a full-fine-tuning rate (1e-6) hardly moves: the label-only baseline would flatter SightSound."""
    for path in sorted(RECIPES.glob("*.yaml")):
        lr_line = next(line for line in path.read_text().splitlines() if line.startswith("learning_rate:"))
        assert "#" in lr_line, f"{path.name}: say why this learning rate, on its line"
        cfg = yaml.safe_load(path.read_text())
        if cfg.get("lora_r") or cfg.get("adapter") or "lora" in lr_line.lower():
            assert float(cfg["learning_rate"]) >= 5e-6, f"{path.name}: {cfg['learning_rate']} is a full-FT rate"


def test_the_rollout_engine_takes_the_trainers_precision_when_bf16_is_left_on_auto(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a CUDA worker: auto means a bf16 trainer
    cfg = GRPOStageConfig(model_name_or_path="m", train_file="g.jsonl", output_dir="out", rollout_backend="vllm",
                          per_device_train_batch_size=8)
    assert grpo.rollout_engine_options(cfg)["dtype"] == "bfloat16"
    assert grpo.rollout_engine_options(replace(cfg, bf16=False))["dtype"] == "float32"
    assert grpo.rollout_engine_options(replace(cfg, vllm_options={"dtype": "float32"}))["dtype"] == "float32"


def test_each_rows_audio_features_stay_with_that_row_through_shuffling_splitting_and_grouping(
        grpo_data: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every loss micro-batch is checked row by row: the clip its prompt text names, its features, nothing else.

    Prompts name their clip ("Clip t3."), and each clip is a different tone, so a feature row that moved to another
    row of the batch (TRL shuffles the generation batch, splits it into micro-batches, and repeats each prompt for
    its group) is caught by comparing it with the features computed afresh from the named clip's file.
    """
    import re

    from pipeline.training import load_waveform

    model, media, _, adapter = grpo_data
    items = [dict(it, prompt=[{"role": "user", "content": [{"type": "audio", "path": it["audio_path"]}, {
        "type": "text", "text": f"Clip {it['id']}. {it['prompt'][0]['content'][1]['text']}"}]}])
        for it in tone_items(media)]
    train_file = write_jsonl(tmp_path / "named.jsonl", items)
    checked: list[list[str]] = []
    compute_loss = AudioGRPOTrainer._compute_loss

    def check_rows(trainer: AudioGRPOTrainer, model_: Any, inputs: dict[str, Any]) -> Any:
        proc = trainer.processing_class
        ids = []
        for row, (prompt, mask) in enumerate(zip(inputs["prompt_ids"], inputs["prompt_mask"], strict=True)):
            clip = re.search(r"Clip (t\d+)\.", proc.tokenizer.decode(prompt[mask.bool()])).group(1)
            wave = load_waveform(media / f"tones/{clip}.wav")
            expected = proc.feature_extractor(wave, sampling_rate=16000, return_tensors="pt")["input_features"][0]
            assert torch.equal(inputs["input_features"][row].cpu(), expected), f"row {row} carries another clip's audio"
            ids.append(clip)
        checked.append(ids)
        return compute_loss(trainer, model_, inputs)

    monkeypatch.setattr(AudioGRPOTrainer, "_compute_loss", check_rows)
    run(_cfg((model, media, train_file, adapter), tmp_path / "out", max_steps=1, per_device_train_batch_size=4,
             gradient_accumulation_steps=2, num_generations=4))
    assert len(checked) == 2 and all(len(ids) == 4 for ids in checked)  # 1 step: 2 micro-batches of 4 rows
    assert any(len(set(ids)) > 1 for ids in checked), "no micro-batch mixed two groups: nothing was shuffled"
