"""RQ jobs: build a snapshot (default queue) and run a training or evaluation stage (gpu queue).

Ids in, rows out. The training job runs the pipeline stage in this process (one GPU), or, on a worker that sees
several GPUs, under `accelerate launch` as a subprocess group (`pipeline.launch`, see settings.TRAINING_LAUNCHER).
Either way metrics arrive through `on_progress(step, total, metrics)` and are stored as MetricPoints in bulk, and
its return value is how cancel reaches the trainer: False once the run is cancelled, so the trainer saves a
checkpoint and stops. A killed work-horse leaves the run active with a dead job, which `fail_if_orphaned` turns
into a failed, resumable run (a launched stage notices its worker is gone and stops with a checkpoint).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from webapp.catalog.models import Dataset, ImportRun
from webapp.core import shards, storage
from webapp.core.failpoints import failpoint
from webapp.core.models import RunStatus, Superseded
from webapp.training import runs, snapshots
from webapp.training.models import DatasetSnapshot, EvaluationShard, MetricPoint, TrainingRun, playable_questions

logger = logging.getLogger(__name__)


def snapshot_job(snapshot_id: int, attempt: int) -> str:
    snapshot = DatasetSnapshot.objects.select_related("dataset").get(pk=snapshot_id)
    return snapshot.carry_out(attempt, lambda: _build_snapshot(snapshot))


def _build_snapshot(snapshot: DatasetSnapshot) -> str:
    from pipeline.export import ExportStopped

    try:
        total = snapshots.candidate_chains(snapshot).count()

        def _progress(n: int, of: int, phase: str) -> bool:
            """Progress on the row; False (stop after this batch) once an admin cancelled the build."""
            snapshot.report_progress(min(n, of), of, {"phase": phase, "chains": n if phase == "freezing" else of})
            failpoint("snapshot.progress")
            return not snapshot.should_stop()

        done = snapshots.freeze(snapshot, on_batch=lambda n: _progress(n, total, "freezing"))
        if snapshot.should_stop():
            return "cancelled"
        prov = snapshots.provenance(snapshot)
        with snapshot.fence():
            DatasetSnapshot.objects.filter(pk=snapshot.pk).update(chain_count=done, provenance=prov)
        snapshot.chain_count, snapshot.provenance = done, prov
        _progress(0, done, "exporting")
        try:
            files = snapshots.export(snapshot, on_progress=lambda n: _progress(n, done, "exporting"))
        except ExportStopped:
            return "cancelled"
        snapshot.report_progress(done, done, {"phase": "done", "chains": done, "files": len(files)})
        failpoint("snapshot.exported")
    except Superseded:
        raise
    except Exception as exc:
        snapshot.mark_failed(exc)
        raise
    snapshot.mark_succeeded()
    return "succeeded"


class MetricSink:
    """`on_progress` for a stage: metrics → MetricPoint rows (bulk), progress on the run, False once cancelled.

    A superseded attempt raises `Superseded` out of the trainer (or the launcher, which then terminates the
    launched group): it must not save a checkpoint into the folder the newer attempt now trains in."""

    def __init__(self, run: TrainingRun, flush_every: int = 1) -> None:
        self.run, self.flush_every = run, flush_every
        self.pending: list[MetricPoint] = []
        self.calls = 0
        self.first: tuple[int, float] | None = None  # (step, monotonic time) of this attempt's first report

    def _rate(self, step: int) -> dict[str, float]:
        """This attempt's optimizer steps per second, kept with the run as the deployment's measured throughput."""
        now = time.monotonic()
        if self.first is None:
            self.first = (step, now)
        first_step, since = self.first
        if step <= first_step or now <= since:
            return {}
        return {"steps_per_s": round((step - first_step) / (now - since), 4)}

    def __call__(self, step: int, total: int, metrics: dict[str, float]) -> bool:
        self.calls += 1
        for name, value in metrics.items():
            self.pending.append(MetricPoint(run=self.run, step=max(0, int(step)), name=name[:64], value=float(value)))
        if self.calls % self.flush_every == 0:
            self.flush()
            if metrics:
                failpoint("training.log")
        rounded = {k: round(v, 6) for k, v in metrics.items()}
        self.run.report_progress(max(0, int(step)), max(0, int(total)), {**rounded, **self._rate(int(step))})
        return not self.run.should_stop()

    def flush(self) -> None:
        if self.pending:
            with self.run.fence():  # a step logged again (a resumed attempt) replaces the earlier value
                MetricPoint.objects.bulk_create(self.pending, update_conflicts=True,
                                                unique_fields=["run", "name", "step"], update_fields=["value"])
            self.pending.clear()


def eval_prompt(run: TrainingRun) -> str:
    """Which prompt the scored model was trained with, so it is asked the way it learned to answer:
    R1-AQA mode (choices unlettered), the label-only prompt (answer only), or the student's chain prompt."""
    targets = [r.config.get("_targets") for r in runs.lineage(run)[1:]]
    if "r1aqa" in targets:
        return "r1aqa"
    if "label_only" in targets and "chains" not in targets:
        return "label_only"
    return "student"


def _eval_row(rec: dict[str, Any], prompt: str, benchmark: str) -> dict[str, Any]:
    from pipeline.export import LABEL_PROMPT, grpo_row, r1aqa_row, user_message

    if prompt == "r1aqa":
        row = r1aqa_row(rec)
    elif prompt == "label_only":
        row = grpo_row(rec, user=user_message(rec, LABEL_PROMPT))
    else:
        row = grpo_row(rec)
    if benchmark == "mmau":  # what the official scorer reads beside model_output
        row.update({"benchmark": "mmau", "question": rec["question"], "task": rec.get("question_type", ""),
                    "difficulty": rec.get("difficulty", ""), "sub-category": rec.get("sub_category", "")})
    return row


def _eval_items(run: TrainingRun, path: Path, shard: EvaluationShard | None = None) -> int:
    """The items JSONL of an eval run (or of one shard: its question range): an imported split's questions (held
    out, checked at launch), else, only when the run was launched in-sample, the snapshot's own GRPO rows."""
    import json

    spec = run.config.get("_eval") or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.get("dataset"):
        qs = run.eval_questions()
        if shard is not None:
            qs = qs.filter(**shard.in_range("pk"))
        benchmark = "mmau" if Dataset.objects.filter(pk=spec["dataset"], source_format="mmau").exists() else ""
        prompt = eval_prompt(run)
        n = 0
        with path.open("w", encoding="utf-8") as fh:
            for rec in snapshots.question_records(qs):
                fh.write(json.dumps(_eval_row(rec, prompt, benchmark), ensure_ascii=False) + "\n")
                n += 1
        return n
    if run.snapshot and run.snapshot.export_dir and spec.get("in_sample"):
        shutil.copyfile(storage.resolve(f"{run.snapshot.export_dir}/grpo.jsonl"), path)
        return sum(1 for _ in path.open())
    raise ValueError("an evaluation run needs a held-out evaluation dataset (or an in-sample launch on a snapshot)")


def _validation_items(run: TrainingRun, path: Path) -> int:
    """The validation split a training run scores every N steps, asked the way the run trains its model."""
    import json

    spec = run.config["_val"]
    path.parent.mkdir(parents=True, exist_ok=True)
    prompt = "r1aqa" if run.config.get("_targets") == "r1aqa" else (
        "label_only" if run.config.get("_targets") == "label_only" else "student")
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        questions = playable_questions(spec["dataset"]).filter(split=spec["split"])
        for rec in snapshots.question_records(questions):
            fh.write(json.dumps(_eval_row(rec, prompt, ""), ensure_ascii=False) + "\n")
            n += 1
    if not n:
        raise ValueError(f"the validation split {spec['split']!r} has no playable question")
    return n


def _drop_points_past_start(run: TrainingRun, cfg: Any) -> None:
    """Forget the points of a killed or cancelled attempt that this attempt will log again.

    A training stage restarts at its last checkpoint-S/ (when resuming) and redoes every step after S, so the
    points the earlier attempt logged past S are stale: they go, and the series the UI plots is one attempt's.
    A fresh start (or an evaluation, which always starts over) drops every point.
    """
    from pipeline.training import checkpoint_step, last_checkpoint

    checkpoint = last_checkpoint(cfg.output_dir) if getattr(cfg, "resume", False) else None
    points = MetricPoint.objects.filter(run=run)
    if checkpoint is not None:
        points = points.filter(step__gt=checkpoint_step(checkpoint))
    dropped, _ = points.delete()
    if dropped:
        logger.info("run %s: dropped %d metric points past %s", run.pk, dropped, checkpoint or "the start")


def _stage_runner(stage: str) -> Callable[..., Any]:
    if stage == TrainingRun.Stage.SFT:
        from pipeline.sft import run
    elif stage == TrainingRun.Stage.GRPO:
        from pipeline.grpo import run
    elif stage == TrainingRun.Stage.DPO:
        from pipeline.dpo import run
    else:
        from pipeline.evaluate import run
    return run


def _launcher(stage: str, cfg: Any) -> dict[str, Any] | None:
    """How this worker runs a training stage: None in this process, else the `accelerate launch` settings.

    A stage that needs one process (GRPO with vLLM rollouts: one colocated engine) runs here on any worker.
    """
    if stage not in {TrainingRun.Stage.SFT, TrainingRun.Stage.GRPO, TrainingRun.Stage.DPO} \
            or settings.TRAINING_LAUNCHER == "inprocess" \
            or getattr(cfg, "single_process", False):
        return None
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if settings.TRAINING_LAUNCHER == "auto" and gpus < 2:
        return None
    return {"kind": "accelerate", "num_processes": settings.TRAINING_NUM_PROCESSES or max(gpus, 1),
            "cpu": gpus == 0}


def training_job(run_id: int, attempt: int) -> str:
    from rq import get_current_job

    run = TrainingRun.objects.select_related("parent", "snapshot").get(pk=run_id)
    job = get_current_job()
    return run.carry_out(attempt, lambda: _train(run), job.id if job else "")


def _train(run: TrainingRun) -> str:
    sink = MetricSink(run)
    try:
        resume = bool(run.config.get("_resume"))
        cfg = runs.stage_config(run, resume=resume)
        launcher = _launcher(run.stage, cfg)
        env = {**runs.environment(), "stage_config": cfg.to_dict(), "resumed": resume,
               "launcher": launcher or {"kind": "inprocess"}}
        with run.fence():
            TrainingRun.objects.filter(pk=run.pk).update(environment=env)
            _drop_points_past_start(run, cfg)
        if run.stage == TrainingRun.Stage.EVAL:
            n = _eval_items(run, Path(cfg.items_file))
            run.report_progress(0, n)
        elif getattr(cfg, "val_file", None):
            _validation_items(run, Path(cfg.val_file))
        if launcher is None:
            result = _stage_runner(run.stage)(cfg, on_progress=sink)
        else:
            from pipeline.launch import StageStopped, run_stage

            try:
                result = run_stage(run.stage, cfg, on_progress=sink, num_processes=launcher["num_processes"],
                                   cpu=launcher["cpu"], stop_grace=settings.TRAINING_STOP_GRACE_SECONDS)
            except StageStopped:
                sink.flush()
                if run.should_stop():
                    return "cancelled"
                raise
        sink.flush()
        with run.fence():
            results = _results(run, result)
            TrainingRun.objects.filter(pk=run.pk).update(**results)
    except Superseded:
        raise
    except Exception as exc:
        sink.flush()  # raises Superseded when a newer attempt owns the run: then it is not this job's to fail
        run.mark_failed(exc)
        raise
    if run.should_stop():
        return "cancelled"
    run.mark_succeeded()
    return "succeeded"


def evaluation_shard_job(shard_id: int, attempt: int) -> str:
    """One question range of an evaluation run (webapp/core/shards.py); the last shard to succeed scores the run."""
    from rq import get_current_job

    shard = EvaluationShard.objects.select_related("run__parent", "run__snapshot").get(pk=shard_id)
    job = get_current_job()
    return shard.carry_out(attempt, lambda: _evaluate_shard(shard.run, shard), job.id if job else "")


def _evaluate_shard(run: TrainingRun, shard: EvaluationShard) -> str:
    """Score the shard's items into its own folder (per attempt: a superseded job never writes into the file its
    successor writes); the shard that finds every other one succeeded joins them and scores the whole run."""
    import dataclasses

    try:
        out = storage.resolve(shard.output_dir)
        cfg = dataclasses.replace(runs.stage_config(run), items_file=str(out / "items.jsonl"), output_dir=str(out),
                                  limit=None)  # the run's limit is in its ranges (TrainingRun.eval_questions)
        n = _eval_items(run, Path(cfg.items_file), shard)
        shard.report_progress(0, n)

        def _progress(done: int, total: int, metrics: dict[str, float]) -> bool:
            shard.report_progress(done, total, {"correct": round(metrics["accuracy"] * done)})
            return not shard.should_stop()

        generation: dict[str, Any] = {}
        if n:  # a range whose questions all went (deleted, unplayable) since launch scores nothing
            result = _stage_runner(run.stage)(cfg, on_progress=_progress)
            generation = result.generation
            if result.stopped_early:
                return "cancelled"
        else:
            (out / "predictions.jsonl").write_text("")
        if shard.should_stop():
            return "cancelled"
        if not shard.mark_succeeded():
            return "superseded"
        if run.shard_set().exclude(status=RunStatus.SUCCEEDED).exists():
            return "succeeded"  # another shard is still at work: the last one scores the run
    except Superseded:
        raise
    except Exception as exc:
        shard.mark_failed(exc)
        raise
    with shard.closing_run("joining the shards' predictions failed"):
        result = _merged(run, cfg, generation)
        env = {**runs.environment(), "stage_config": runs.stage_config(run).to_dict(),
               "resumed": bool(run.config.get("_resume")), "launcher": {"kind": "inprocess"},
               "shards": run.shard_set().count()}
        shards.close(run, lambda: TrainingRun.objects.filter(pk=run.pk).update(**_results(run, result),
                                                                                environment=env))
    return "succeeded"


def _merged(run: TrainingRun, cfg: Any, generation: dict[str, Any]) -> Any:
    """The run's result from every shard's predictions, in question order: the figures an unsharded run over the
    same items gives (pipeline/evaluate.py, merge)."""
    from pipeline.evaluate import merge

    parts = [storage.resolve(s.output_dir) / "predictions.jsonl" for s in run.shard_set().order_by("index")]
    return merge(parts, storage.resolve(run.output_dir) / "predictions.jsonl", cfg.slice_keys, generation)


def _results(run: TrainingRun, result: Any) -> dict[str, Any]:
    if run.stage == TrainingRun.Stage.EVAL:
        MetricPoint.objects.bulk_create([MetricPoint(run=run, step=result.n, name="eval/accuracy",
                                                     value=result.accuracy)], ignore_conflicts=True)
        spec = run.config.get("_eval") or {}
        version = (ImportRun.objects.filter(dataset_id=spec.get("dataset")).exclude(source_version={})
                   .order_by("-pk").values_list("source_version", flat=True).first()) if spec.get("dataset") else None
        return {"results": {"accuracy": result.accuracy, "n": result.n, "per_slice": result.per_slice,
                            "benchmark_version": version or {},
                            "summary": result.summary, "generation": result.generation,
                            "prompt": eval_prompt(run), "in_sample": bool(spec.get("in_sample")),
                            "predictions": storage.relative(Path(result.predictions_path)),
                            "stopped_early": result.stopped_early}}
    return {"checkpoint_path": storage.relative(Path(result.adapter_dir)),
            "results": {"steps": result.steps, "metrics": result.metrics, "stopped_early": result.stopped_early,
                        "resumed_from": storage.relative(Path(result.resumed_from)) if result.resumed_from else None,
                        "final_loss": getattr(result, "final_loss", None),
                        "final_reward": getattr(result, "final_reward", None),
                        **({"launch_command": result.command} if getattr(result, "command", None) else {})}}
