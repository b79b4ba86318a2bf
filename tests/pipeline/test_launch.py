"""Stages under `accelerate launch` (the multi-GPU path, forced onto the CPU with --cpu): progress streams back,
cancel stops with a checkpoint or terminates the process group, and an error exit fails with the log."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from pipeline.grpo import GRPOStageConfig
from pipeline.launch import StageFailed, StageStopped, accelerate_command, run_stage
from pipeline.sft import SFTStageConfig
from tests.pipeline.training_data import sft_row, tiny_student, tone_items, write_jsonl


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("launch")
    media = root / "media"
    items = tone_items(media, n=4)
    return {"model": tiny_student(root / "models"), "media": media,
            "sft": write_jsonl(root / "sft.jsonl", [sft_row(it) for it in items]),
            "grpo": write_jsonl(root / "grpo.jsonl", items)}


def _sft(data: dict[str, Path], out: Path, **kw: object) -> SFTStageConfig:
    base = dict(model_name_or_path=str(data["model"]), train_file=str(data["sft"]), media_root=str(data["media"]),
                output_dir=str(out), per_device_train_batch_size=2, logging_steps=1, save_steps=2, max_steps=3,
                lora_r=4, lora_alpha=8)
    return SFTStageConfig(**(base | kw))  # type: ignore[arg-type]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def test_it_builds_the_accelerate_command_of_a_stage_cli() -> None:
    cmd = accelerate_command("grpo", "/x/cfg.yaml", 4)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and "--multi_gpu" in cmd
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[-4:] == ["-m", "pipeline.grpo", "--config", "/x/cfg.yaml"]
    assert "--cpu" in accelerate_command("sft", "c.yaml", 1, cpu=True)
    with pytest.raises(ValueError):
        accelerate_command("eval", "c.yaml", 1)


def test_it_streams_sft_metrics_back_from_the_launched_processes(data: dict[str, Path], tmp_path: Path) -> None:
    seen: list[tuple[int, int, dict[str, float]]] = []
    result = run_stage("sft", _sft(data, tmp_path / "out"), lambda s, t, m: seen.append((s, t, m)) and None, cpu=True)
    logged = [(s, t, m["loss"]) for s, t, m in seen if "loss" in m]
    assert [(s, t) for s, t, _ in logged] == [(1, 3), (2, 3), (3, 3)]
    assert result.steps == 3 and result.stopped_early is False and result.final_loss == logged[-1][2]
    assert (Path(result.adapter_dir) / "adapter_config.json").is_file()
    assert result.command[-4:] == ["-m", "pipeline.sft", "--config", str(tmp_path / "out" / "launch_config.yaml")]
    assert any("train_runtime" in m for _, _, m in seen)


def test_it_runs_grpo_from_the_launched_cli_with_rewards_reported(data: dict[str, Path], tmp_path: Path) -> None:
    cfg = GRPOStageConfig(model_name_or_path=str(data["model"]), train_file=str(data["grpo"]),
                          media_root=str(data["media"]), output_dir=str(tmp_path / "grpo"), max_steps=1,
                          num_generations=2, per_device_train_batch_size=2, max_completion_length=8,
                          logging_steps=1, lora_r=4, lora_alpha=8)
    names: set[str] = set()
    result = run_stage("grpo", cfg, lambda s, t, m: names.update(m) and None, cpu=True)
    assert result.steps == 1 and "reward" in names and any(n.startswith("rewards/") for n in names)
    assert (Path(result.adapter_dir) / "adapter_config.json").is_file()


def test_it_stops_the_launched_stage_with_a_checkpoint_when_asked(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_stage("sft", _sft(data, out, max_steps=200, save_steps=100), lambda s, t, m: s < 2, cpu=True)
    assert result.stopped_early is True and 2 <= result.steps < 200
    assert (out / f"checkpoint-{result.steps}" / "trainer_state.json").is_file()


def test_it_terminates_the_process_group_when_the_stage_does_not_stop(data: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    group: list[int] = []

    def stop_once_training(step: int, total: int, metrics: dict[str, float]) -> bool:
        if not metrics:  # a heartbeat while the model loads
            return True
        if not group:
            launcher = next(p.pid for p in psutil.Process().children() if "accelerate.commands.launch" in p.cmdline())
            group.extend(p.pid for p in psutil.process_iter() if _pgid(p.pid) == launcher)
        return False

    with pytest.raises(StageStopped):
        run_stage("sft", _sft(data, tmp_path / "out", max_steps=200), stop_once_training, cpu=True, stop_grace=0)
    assert len(group) >= 2, "the launcher and the training process"
    assert not [pid for pid in group if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_it_fails_with_the_end_of_the_stage_log(data: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(StageFailed, match=r"exited with status [1-9].*\n(.|\n)*no-such-model"):
        run_stage("sft", _sft(data, tmp_path / "out", model_name_or_path=str(tmp_path / "no-such-model")), cpu=True)
