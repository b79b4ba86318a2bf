"""How a worker with several GPUs runs a training stage (issue 12, finding 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.grpo import GRPOStageConfig
from webapp.training.jobs import _launcher


def _grpo(tmp_path: Path, backend: str) -> GRPOStageConfig:
    return GRPOStageConfig(model_name_or_path="m", train_file=str(tmp_path / "g.jsonl"), output_dir=str(tmp_path),
                           rollout_backend=backend, per_device_train_batch_size=8, num_generations=8)


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's view of its GPUs: the decision under test reads only these two calls."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


def test_vllm_grpo_runs_in_process_on_a_worker_with_several_gpus(tmp_path: Path, four_gpus: None, settings) -> None:
    settings.TRAINING_LAUNCHER, settings.TRAINING_NUM_PROCESSES = "auto", 0
    # one colocated engine beside one trainer: under `accelerate launch` every rank but one refused to start it
    assert _launcher("grpo", _grpo(tmp_path, "vllm")) is None
    assert _launcher("grpo", _grpo(tmp_path, "generate")) == {"kind": "accelerate", "num_processes": 4, "cpu": False}


def test_vllm_grpo_runs_in_process_even_when_the_launcher_is_forced(tmp_path: Path, settings) -> None:
    settings.TRAINING_LAUNCHER = "accelerate"
    assert _launcher("grpo", _grpo(tmp_path, "vllm")) is None
    assert _launcher("grpo", _grpo(tmp_path, "generate"))["kind"] == "accelerate"
