"""GRPO rollouts on a colocated vLLM engine with the audio: the engine holds the trainer's policy, and it learns.

Engines here are created and closed one at a time (each `grpo.run` closes its own), which in-process vLLM allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pipeline.grpo import AudioGRPOTrainer, GRPOStageConfig, build_trainer
from pipeline.sft import SFTStageConfig
from pipeline.sft import run as sft_run
from tests.pipeline.test_learns_from_audio import check_rollouts_learn
from tests.pipeline.training_data import sft_row, tiny_student, tone_items, write_jsonl

VLLM = {"enforce_eager": True, "max_model_len": 1024, "dtype": "float32"}
TOLERANCE = 1e-3  # fp32: per-token |log p(trainer) - log p(vLLM)|; measured ~1e-5, a stale policy is off by >0.05


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tiny student, 8 tone questions, and an SFT adapter with a LoRA that really moved (lr 0.05)."""
    root = tmp_path_factory.mktemp("grpo_vllm")
    model = tiny_student(root / "models")
    media = root / "media"
    items = tone_items(media)
    sft = sft_run(SFTStageConfig(model_name_or_path=str(model), media_root=str(media), output_dir=str(root / "sft"),
                                 train_file=str(write_jsonl(root / "sft.jsonl", [sft_row(i) for i in items])),
                                 max_steps=4, per_device_train_batch_size=4, save_steps=100, learning_rate=0.05,
                                 modules_to_save=["lm_head"]))
    return {"root": root, "model": model, "media": media, "adapter": sft.adapter_dir,
            "train": write_jsonl(root / "grpo.jsonl", items)}


def _cfg(data: dict[str, Any], out: str, **kw: Any) -> GRPOStageConfig:
    base = dict(model_name_or_path=str(data["model"]), adapter=data["adapter"], train_file=str(data["train"]),
                media_root=str(data["media"]), output_dir=str(data["root"] / out), max_steps=2,
                per_device_train_batch_size=8, num_generations=8, beta=0.04, max_completion_length=12,
                logging_steps=1, save_steps=100, seed=5, learning_rate=0.02, rollout_backend="vllm",
                vllm_options=VLLM)
    return GRPOStageConfig(**(base | kw))


def _trainer_logps(trainer: AudioGRPOTrainer, batch: Any, completions: list[list[int]]) -> list[list[float]]:
    """Per-token log-probs of each completion under the trainer's policy, one row at a time (no padding)."""
    out = []
    for i, comp in enumerate(completions):
        ids = torch.tensor([batch.prompt_ids[i] + comp])
        trainer._audio_batch = {k: v[i:i + 1] for k, v in batch.features.items()}
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, torch.ones_like(ids), len(comp))
        out.append(logps[0].tolist())
    return out


def _max_gap(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))


def test_engine_and_trainer_logprobs_agree_after_weight_updates(data: dict[str, Any]) -> None:
    trainer, engine = build_trainer(_cfg(data, "agree"))
    seen: list[tuple[Any, list[list[int]]]] = []
    rollouts = trainer._generate_rollouts

    def keep(batch: Any) -> Any:
        ids, logps = rollouts(batch)
        seen.append((batch, ids))
        return ids, logps

    trainer._generate_rollouts = keep  # type: ignore[method-assign]
    try:
        trainer.train()
        assert trainer.state.global_step == 2 and engine.syncs == 2  # one sync per optimiser step that rolled out
        batch, completions = seen[-1]
        trainer.model.eval()
        engine.sync(trainer.accelerator.unwrap_model(trainer.model))  # the last step's update
        with torch.no_grad():
            ours = _trainer_logps(trainer, batch, completions)
            theirs = engine.completion_logprobs(batch.prompt_texts, batch.waveforms, completions)
            gap = _max_gap(ours, theirs)
            with trainer.accelerator.unwrap_model(trainer.model).disable_adapter():
                base = _trainer_logps(trainer, batch, completions)
        stale = _max_gap(base, theirs)
        print(f"max |dlogp| trainer vs vLLM after sync: {gap:.2e}; vs the base policy: {stale:.3f}")
        assert gap < TOLERANCE
        assert stale > 50 * TOLERANCE, "the adapter barely moved: this test could not tell a stale engine apart"
        # TRL's importance-sampling metrics are fed by our sampling log-probs. They are not a zero check: the
        # rollouts never sample media placeholder tokens, so the behaviour policy is the suppressed distribution.
        assert any("sampling/sampling_logp_difference/max" in h for h in trainer.state.log_history)
    finally:
        engine.close()


def test_grpo_run_with_vllm_rollouts_can_skip_the_importance_sampling_forward(data: dict[str, Any]) -> None:
    from pipeline.grpo import run

    seen: list[dict[str, float]] = []
    result = run(_cfg(data, "run", max_steps=1, importance_sampling_correction=False),
                 on_progress=lambda _step, _total, metrics: seen.append(metrics))
    assert result.steps == 1 and result.metrics["rollout_seconds_total"] > 0
    assert seen and not any(k.startswith("sampling/") for m in seen for k in m)  # no old-policy forward, no IS
    assert (Path(result.adapter_dir) / "adapter_model.safetensors").is_file()


def test_it_learns_the_pitch_from_the_audio_with_vllm_rollouts(tmp_path: Path) -> None:
    summary = check_rollouts_learn(tmp_path, chunk_s=30, rollout_backend="vllm",
                                   vllm_options={**VLLM, "max_model_len": 512})
    print(f"LEARNING TEST (vLLM rollouts): {summary}")
