"""Run a training stage under `accelerate launch` (one process per GPU) and stream its progress back.

A worker with several GPUs cannot run data-parallel training in its own process, so it runs the stage's own CLI,
exactly what one would type on a cluster::

    accelerate launch --num_processes N [--multi_gpu | --cpu] -m pipeline.sft --config <output_dir>/launch_config.yaml

and keeps the `on_progress(step, total, metrics) -> bool | None` contract of an in-process run:

* progress: rank 0's `ProgressCallback` appends JSON lines to a file named by `SIGHTSOUND_PROGRESS_FILE`
  (`callbacks.FileProgress`); this side tails it and hands every record to `on_progress`;
* cancel: when `on_progress` returns False, a stop file is written; the stage stops at its next log with a
  checkpoint, and if it has not exited `stop_grace` seconds later its whole process group is terminated;
* a dead worker: the stage watches this process's pid and stops (with a checkpoint) when it is gone;
* status: exit code 0 with an adapter is success, anything else raises with the tail of the stage's log.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.callbacks import FileProgress
from pipeline.progress import ProgressFn
from pipeline.training import StageConfig, StageResult, last_checkpoint

__all__ = ["LaunchResult", "StageFailed", "StageStopped", "accelerate_command", "run_stage"]

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # `-m pipeline.<stage>` is importable from here
STAGES = ("sft", "grpo", "dpo")


class StageFailed(RuntimeError):
    """The stage's processes exited with an error (the message carries the end of their log)."""


class StageStopped(RuntimeError):
    """The stage did not stop by itself after a stop request and its process group was terminated."""


@dataclass
class LaunchResult(StageResult):
    """What the in-process stages return (`SFTResult` / `GRPOResult`), rebuilt from the progress stream."""

    final_loss: float | None = None
    final_reward: float | None = None
    command: list[str] = field(default_factory=list)


def accelerate_command(stage: str, config_path: str | os.PathLike[str], num_processes: int,
                       cpu: bool = False) -> list[str]:
    """The `accelerate launch` command line for a stage's CLI (the same interpreter as this process)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    mode = ["--cpu"] if cpu else (["--multi_gpu"] if num_processes > 1 else [])
    return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes),
            "--num_machines", "1", "--dynamo_backend", "no", "--mixed_precision", "no", *mode,
            "-m", f"pipeline.{stage}", "--config", str(config_path)]


class _Tail:
    """Complete JSON lines appended to a file since the last read (a half-written last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.rest = path, 0, b""

    def read(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        *lines, self.rest = (self.rest + data).split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _terminate(proc: subprocess.Popen[bytes], wait: float = 10.0) -> None:
    """SIGTERM the stage's process group (launcher and every rank), SIGKILL what is left after `wait` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_stage(stage: str, cfg: StageConfig, on_progress: ProgressFn | None = None, *, num_processes: int = 1,
              cpu: bool = False, stop_grace: float = 60.0, poll: float = 0.25, heartbeat: float = 2.0
              ) -> LaunchResult:
    """Run `pipeline.<stage>` with cfg under `accelerate launch`; files go to cfg.output_dir (launch_* names).

    `on_progress` is also called with no metrics every `heartbeat` seconds without a report (model loading, a long
    step), so a cancel is noticed before the first log.
    """
    import yaml

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path, progress_path = out / "launch_config.yaml", out / "launch_progress.jsonl"
    stop_path, log_path = out / "launch.stop", out / "launch.log"
    config_path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    for stale in (progress_path, stop_path):
        stale.unlink(missing_ok=True)
    resumed_from = last_checkpoint(out) if cfg.resume else None
    cmd = accelerate_command(stage, config_path, num_processes, cpu)
    env = {**os.environ, FileProgress.PATH_ENV: str(progress_path), FileProgress.STOP_ENV: str(stop_path),
           FileProgress.WATCH_PID_ENV: str(os.getpid()), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
    log.info("launching %s", " ".join(cmd))
    tail = _Tail(progress_path)
    last: dict[str, float] = {}
    step = total = 0
    end: dict[str, Any] | None = None
    stop_at: float | None = None
    terminated = False

    def report(metrics: dict[str, float]) -> None:
        nonlocal stop_at
        if on_progress is not None and on_progress(step, total, metrics) is False and stop_at is None:
            log.info("stop requested at step %d: asking %s to stop", step, stage)
            stop_path.touch()
            stop_at = time.monotonic()

    with log_path.open("wb") as log_fh:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own group: terminate reaches every rank
        try:
            quiet_since = time.monotonic()
            while True:
                rc = proc.poll()
                for rec in tail.read():
                    if rec.get("event") == "end":
                        end = rec
                        continue
                    step, total = int(rec["step"]), int(rec["total"])
                    last.update(rec["metrics"])
                    report(rec["metrics"])
                    quiet_since = time.monotonic()
                if rc is not None:
                    break
                now = time.monotonic()
                if now - quiet_since >= heartbeat:
                    report({})
                    quiet_since = now
                if stop_at is not None and now - stop_at >= stop_grace:
                    log.warning("%s did not stop within %.0fs: terminating its process group", stage, stop_grace)
                    _terminate(proc)
                    terminated = True
                time.sleep(poll)
        finally:
            if proc.poll() is None:  # this job is being torn down (an exception, a timeout): take the stage with it
                _terminate(proc)
    if terminated:
        raise StageStopped(f"{stage} was terminated after a stop request; log: {log_path}")
    adapter = out / "adapter"
    if proc.returncode != 0 or not (adapter / "adapter_config.json").is_file():
        raise StageFailed(f"`{' '.join(cmd)}` exited with status {proc.returncode}"
                          f"{'' if proc.returncode else ' without writing an adapter'}; end of {log_path}:\n"
                          f"{_log_tail(log_path)}")
    return LaunchResult(adapter_dir=str(adapter), steps=int(end["step"]) if end else step, metrics=last,
                        stopped_early=bool(end and end["stopped_early"]) or stop_at is not None,
                        resumed_from=resumed_from, final_loss=last.get("loss"), final_reward=last.get("reward"),
                        command=cmd)
