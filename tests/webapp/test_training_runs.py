"""Training and evaluation runs from the web app: launch, metrics back, cancel, resume after a killed worker."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from django.test import Client

from pipeline import tiny
from pipeline.synth import render_tones, write_wav
from tests.webapp.workers import start_worker, wait_for
from webapp.catalog.models import Clip, Dataset, Question
from webapp.curation.models import Chain, GenerationRun
from webapp.training import comparison, runs
from webapp.training.models import DatasetSnapshot, MetricPoint, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.one_database]  # minutes of training, not SQL


@pytest.fixture(scope="session")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


def _tone_dataset(media_root: Path, n: int, slug: str = "tones") -> Dataset:
    """n questions over one-second tones (low/high), wavs under the storage root, one accepted chain each."""
    dataset = Dataset.objects.create(name=slug, slug=slug, source_format="avqa")
    run = GenerationRun.objects.create(dataset=dataset, model="teacher-x", prompt_version="teacher-v1")
    for i in range(n):
        high = i % 2
        rel = f"clips/{slug}/{i}.wav"
        write_wav(media_root / rel, render_tones([(0.1, 0.9, 1500 + 50 * i if high else 300 + 20 * i)],
                                                 duration=1.0), 16000)
        clip = Clip.objects.create(dataset=dataset, name=f"t{i}", kind="audio", media_path=rel, audio_path=rel,
                                   status="ready", duration=1.0)
        q = Question.objects.create(dataset=dataset, clip=clip, external_id=str(i), text="Is the tone high or low?",
                                    choices=["low", "high"], answer_index=high, answer_text=["low", "high"][high],
                                    split="test" if i % 4 == 3 else "train",
                                    question_type="Pitch" if i % 3 else "Other", content_hash=str(i))
        Chain.objects.create(run=run, question=q, sample_index=0, decision="accepted", is_correct=True,
                             text=f"<think>The tone is {['low', 'high'][high]}.</think><answer>{'AB'[high]}</answer>")
    return dataset


def _launch(client: Client, **data: object) -> TrainingRun:
    data = {k: json.dumps(v) if k == "overrides" else v for k, v in data.items()}
    r = client.post("/training/new/", data)
    assert r.status_code == 302, r.content.decode()[:3000]
    return TrainingRun.objects.latest("pk")


def _snapshot(client: Client, dataset: Dataset, run_worker, **filters: str) -> DatasetSnapshot:
    assert client.post("/snapshots/new/", {"dataset": dataset.pk, **filters}).status_code == 302
    run_worker("default")
    snapshot = DatasetSnapshot.objects.latest("pk")
    assert snapshot.status == "succeeded", snapshot.error
    return snapshot


def _cancel_in_flight(client: Client, run: TrainingRun, started, **env: str) -> dict[psutil.Process, str]:
    """Cancel from the UI once `started()`, with a real worker process; its descendants then, with command lines."""
    worker = start_worker(**env)
    try:
        wait_for(started, worker, "started")
        busy = {p: " ".join(p.cmdline()) for p in psutil.Process(worker.pid).children(recursive=True)}
        assert client.post(f"/training/{run.pk}/cancel/").status_code == 302
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    return busy


def test_it_runs_an_evaluation_end_to_end_through_the_worker(admin_client: Client, media_root: Path,
                                                             student: Path, run_worker) -> None:
    dataset = _tone_dataset(media_root, 6)
    run = _launch(admin_client, stage="eval", name="pretrained student", base_model=str(student),
                  eval_dataset=dataset.pk, overrides={"batch_size": 2, "max_new_tokens": 8})
    assert run.status == "queued" and run.config["batch_size"] == 2
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.results["n"] == 6 and 0.0 <= run.results["accuracy"] <= 1.0
    assert run.results["per_slice"]["question_type=Pitch"]["n"] == 4
    steps = list(MetricPoint.objects.filter(run=run, name="accuracy").values_list("step", flat=True))
    assert steps == [2, 4, 6] and MetricPoint.objects.filter(run=run, name="eval/accuracy").count() == 1
    env = run.environment
    assert env["packages"]["torch"] and env["cpu_count"] and "git_commit" in env and "cuda_devices" in env
    assert env["stage_config"]["model_name_or_path"] == str(student)
    metrics = admin_client.get(f"/training/{run.pk}/metrics.json").json()
    assert [p[0] for p in metrics["series"]["accuracy"]] == [2, 4, 6] and metrics["active"] is False
    assert admin_client.get(f"/training/{run.pk}/metrics.json?after=4").json()["series"]["accuracy"][0][0] == 6
    page = admin_client.get(f"/training/{run.pk}/predictions/?show=all").content.decode()
    assert page.count("<tr>") == 7
    compare = admin_client.get(f"/training/compare/?runs={run.pk}").content.decode()
    assert "pretrained student" in compare and "question_type=Pitch" in compare


def test_it_cancels_a_queued_run_before_it_starts(admin_client: Client, media_root: Path, student: Path,
                                                  run_worker) -> None:
    dataset = _tone_dataset(media_root, 2)
    run = _launch(admin_client, stage="eval", base_model=str(student), eval_dataset=dataset.pk)
    assert admin_client.post(f"/training/{run.pk}/cancel/").status_code == 302
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "cancelled" and not run.metrics.exists()
    assert admin_client.post(f"/training/{run.pk}/cancel/").status_code == 400


def test_it_stops_a_running_evaluation_when_cancelled(admin_client: Client, media_root: Path,
                                                      student: Path) -> None:
    dataset = _tone_dataset(media_root, 60)
    run = _launch(admin_client, stage="eval", base_model=str(student), eval_dataset=dataset.pk,
                  overrides={"batch_size": 1, "max_new_tokens": 32})
    _cancel_in_flight(admin_client, run, lambda: run.metrics.exists())
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.results["stopped_early"] is True and run.results["n"] < 60


def _checkpoint_steps(out: Path) -> list[int]:
    return sorted(int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/trainer_state.json"))


def test_it_resumes_sft_from_its_checkpoint_after_the_work_horse_is_killed(
    admin_client: Client, media_root: Path, student: Path, run_worker
) -> None:
    dataset = _tone_dataset(media_root, 8)
    snapshot = _snapshot(admin_client, dataset, run_worker)
    run = _launch(admin_client, stage="sft", base_model=str(student), snapshot=snapshot.pk, recipe="sft_tiny",
                  overrides={"max_steps": 12, "save_steps": 4, "logging_steps": 1, "save_total_limit": 1})
    out = media_root / run.output_dir

    def logged_past_a_checkpoint() -> bool:
        saved = _checkpoint_steps(out)
        return bool(saved) and run.metrics.filter(name="loss", step__gt=saved[-1]).exists()

    worker = start_worker()
    try:
        wait_for(logged_past_a_checkpoint, worker, "logged a step past a checkpoint")
        for horse in psutil.Process(worker.pid).children():
            os.kill(horse.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    admin_client.get(f"/training/{run.pk}/")  # the next look notices the dead job
    run.refresh_from_db()
    assert run.status == "failed" and "worker" in run.error
    resume_at = _checkpoint_steps(out)[-1]
    kept = dict(run.metrics.filter(step__lte=resume_at).values_list("pk", "value"))
    stale = set(run.metrics.filter(step__gt=resume_at).values_list("pk", flat=True))
    assert kept and stale and max(run.metrics.values_list("step", flat=True)) < 12

    assert admin_client.post(f"/training/{run.pk}/resume/").status_code == 302
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.results["resumed_from"] == f"{run.output_dir}/checkpoint-{resume_at}"
    assert run.results["steps"] == 12 and run.environment["resumed"] is True
    assert (media_root / run.checkpoint_path / "adapter_config.json").is_file()
    # The killed attempt's points past the checkpoint were replaced by the resumed attempt's; earlier ones kept.
    assert list(run.metrics.filter(name="loss").values_list("step", flat=True)) == list(range(1, 13))
    assert dict(run.metrics.filter(pk__in=kept).values_list("pk", "value")) == kept
    assert not run.metrics.filter(pk__in=stale).exists()
    assert run.metrics.filter(step__gt=resume_at, name="loss").count() == 12 - resume_at


def test_it_replaces_a_logged_step_instead_of_keeping_the_stale_value(admin_client: Client, student: Path) -> None:
    from webapp.training.jobs import MetricSink

    run = TrainingRun.objects.create(stage="eval", base_model=str(student), status="running")
    sink = MetricSink(run)
    sink(5, 10, {"loss": 2.0})
    sink(5, 10, {"loss": 1.5, "reward": 0.25})
    assert dict(run.metrics.values_list("name", "value")) == {"loss": 1.5, "reward": 0.25}


def test_it_points_each_stage_at_the_right_files(admin_client: Client, media_root: Path, student: Path,
                                                 run_worker) -> None:
    snapshot = _snapshot(admin_client, _tone_dataset(media_root, 2), run_worker)
    sft = TrainingRun.objects.create(stage="sft", base_model=str(student), snapshot=snapshot, status="succeeded",
                                     config={"_targets": "label_only"}, checkpoint_path="runs/training/1/adapter")
    assert runs.stage_config(sft).train_file.endswith(f"{snapshot.export_dir}/sft_label_only.jsonl")
    grpo = TrainingRun.objects.create(stage="grpo", base_model=str(student), snapshot=snapshot, parent=sft,
                                      config={"per_device_train_batch_size": 8})
    cfg = runs.stage_config(grpo, resume=True)
    assert cfg.adapter == str(media_root / "runs/training/1/adapter") and cfg.resume is True
    assert cfg.train_file.endswith("grpo.jsonl") and cfg.output_dir == str(media_root / f"runs/training/{grpo.pk}")


def test_it_lets_only_admins_launch_and_rejects_bad_input(admin_client: Client, curator_client: Client,
                                                          media_root: Path, student: Path, run_worker) -> None:
    snapshot = _snapshot(admin_client, _tone_dataset(media_root, 2), run_worker)
    base = {"stage": "sft", "base_model": str(student), "snapshot": snapshot.pk, "recipe": "sft_tiny"}
    assert curator_client.post("/training/new/", base).status_code == 403
    assert curator_client.get("/training/new/").status_code == 403
    bad = [
        {"overrides": "{not json"}, {"overrides": "[1, 2]"}, {"overrides": '{"no_such_field": 1}'},
        {"overrides": '{"max_steps": -5}'}, {"overrides": '{"train_file": "/etc/passwd"}'},
        {"snapshot": ""}, {"recipe": "grpo_tiny"}, {"recipe": "nope"}, {"stage": "rl"},
        {"stage": "eval", "snapshot": ""},
    ]
    for change in bad:
        r = admin_client.post("/training/new/", {**base, **change})
        assert r.status_code == 400, change
    assert not TrainingRun.objects.exists()
    assert admin_client.get("/training/1/metrics.json?after=x").status_code in {400, 404}
    assert curator_client.get("/training/compare/?runs=abc").status_code == 400
    assert curator_client.get("/training/").status_code == 200


def test_it_takes_a_snapshot_through_training_to_the_four_baselines_side_by_side(
    admin_client: Client, media_root: Path, student: Path, run_worker
) -> None:
    """Freeze the train split, export, SFT then GRPO, curves, held-out evaluation, four baselines compared."""
    dataset = _tone_dataset(media_root, 16)  # 12 train questions, 4 test questions, a clip each
    snapshot = _snapshot(admin_client, dataset, run_worker, split="train")
    page = admin_client.get(f"/snapshots/{snapshot.pk}/").content.decode()
    assert f"/snapshots/{snapshot.pk}/files/sft.jsonl" in page
    download = admin_client.get(f"/snapshots/{snapshot.pk}/files/sft.jsonl")
    assert download.status_code == 200 and len(b"".join(download.streaming_content).splitlines()) == 12

    sft_steps = {"max_steps": 2, "save_steps": 2, "logging_steps": 1}
    grpo_steps = {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2,
                  "max_completion_length": 8, "logging_steps": 1}
    sft = _launch(admin_client, stage="sft", name="SightSound SFT", base_model=str(student), snapshot=snapshot.pk,
                  recipe="sft_tiny", overrides=sft_steps)
    label_sft = _launch(admin_client, stage="sft", name="label SFT", base_model=str(student),
                        snapshot=snapshot.pk, recipe="sft_tiny", targets="label_only", design="kept",
                        overrides=sft_steps)
    label_grpo = _launch(admin_client, stage="grpo", name="label GRPO", base_model=str(student),
                         snapshot=snapshot.pk, recipe="grpo_r1aqa_tiny", targets="r1aqa", overrides=grpo_steps)
    run_worker("gpu")
    for run in (sft, label_sft, label_grpo):
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
    assert label_sft.environment["stage_config"]["train_file"].endswith("sft_label_only_matched.jsonl")
    assert label_grpo.environment["stage_config"]["train_file"].endswith("grpo_r1aqa.jsonl")
    assert label_grpo.environment["stage_config"]["adapter"] is None
    assert label_grpo.environment["stage_config"]["reward_funcs"] == ["accuracy", "answer_format"]
    curve = admin_client.get(f"/training/{sft.pk}/metrics.json").json()
    assert [p[0] for p in curve["series"]["loss"]] == [1, 2] and curve["active"] is False

    grpo = _launch(admin_client, stage="grpo", name="SightSound GRPO", base_model="ignored", parent=sft.pk,
                   snapshot=snapshot.pk, recipe="grpo_tiny", overrides=grpo_steps)
    assert grpo.base_model == str(student)
    run_worker("gpu")
    grpo.refresh_from_db()
    assert grpo.status == "succeeded", grpo.error
    assert grpo.environment["stage_config"]["adapter"] == str(media_root / sft.checkpoint_path)
    series = admin_client.get(f"/training/{grpo.pk}/metrics.json").json()["series"]
    assert "reward" in series and any(n.startswith("rewards/") for n in series), sorted(series)

    # Scoring the model on questions it trained on is refused, with the overlap said; held-out test is fine.
    refused = admin_client.post("/training/new/", {"stage": "eval", "base_model": "ignored", "parent": grpo.pk,
                                                   "eval_dataset": dataset.pk, "eval_split": "train"})
    assert refused.status_code == 400 and "shares 12 question(s) and 12 clip(s)" in refused.content.decode()
    evals = [_launch(admin_client, stage="eval", name="pretrained", base_model=str(student),
                     eval_dataset=dataset.pk, eval_split="test", overrides={"max_new_tokens": 8})]
    for model in (label_sft, label_grpo, grpo):
        evals.append(_launch(admin_client, stage="eval", name=f"eval {model.name}", base_model="ignored",
                             parent=model.pk, eval_dataset=dataset.pk, eval_split="test",
                             overrides={"max_new_tokens": 8}))
    run_worker("gpu")
    for ev in evals:
        ev.refresh_from_db()
        assert ev.status == "succeeded" and ev.results["n"] == 4, ev.error
        assert ev.results["in_sample"] is False and ev.results["generation"]["do_sample"] is False
        s = ev.results["summary"]
        assert s["ci_low"] <= s["accuracy"] <= s["ci_high"] and "silent_accuracy" in s and "truncation_rate" in s
    assert [ev.results["prompt"] for ev in evals] == ["student", "label_only", "r1aqa", "student"]
    page = admin_client.get(f"/training/{evals[-1].pk}/").content.decode()
    assert "SightSound GRPO" in page and "SightSound SFT" in page and "Accuracy" in page and "95% CI" in page
    fragment = admin_client.get(f"/training/{grpo.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="run-status"') and "every 2s" not in fragment

    query = "&".join(f"runs={e.pk}" for e in evals)
    compare = admin_client.get(f"/training/compare/?{query}").content.decode()
    table = compare[compare.index('id="comparison"'):compare.index("</table>")]
    baselines = ["pretrained student", "label-only SFT", "label-only GRPO", "SightSound (chain SFT → GRPO)"]
    positions = [table.index(f'<strong class="baseline">{b}</strong>') for b in baselines]
    assert positions == sorted(positions), "the four baselines are columns in launch order"
    assert table.count("question_type=Pitch") == 1 and table.count("n=4") == 4
    assert table.count('class="ci"') >= 4 and "p vs SightSound" in table and "reference" in table
    assert "SightSound&#x27;s kept questions (matched)" in table and "every labelled training question" in table
    assert "silent" in table and "in-sample" not in table
    markdown = admin_client.get(f"/training/compare/?{query}&format=md")
    assert markdown["Content-Disposition"].endswith('comparison.md"')
    md = markdown.content.decode()
    assert md.count("| overall |") == 4 and "## Configs" in md and "grpo_r1aqa_tiny" in md
    csv_rows = admin_client.get(f"/training/compare/?{query}&format=csv").content.decode().splitlines()
    assert csv_rows[0].startswith("run,baseline,design") and len(csv_rows) >= 5
    for url in ("/training/", "/snapshots/", f"/snapshots/{snapshot.pk}/", "/training/new/?stage=grpo",
                "/training/compare/", "/snapshots/new/"):
        assert admin_client.get(url).status_code == 200, url


def test_it_runs_sft_and_grpo_under_accelerate_launch_with_metrics_and_exit_status(
    admin_client: Client, media_root: Path, student: Path, run_worker, settings
) -> None:
    """The multi-GPU path, forced onto the CPU (`accelerate launch --cpu --num_processes 1`)."""
    settings.TRAINING_LAUNCHER = "accelerate"
    snapshot = _snapshot(admin_client, _tone_dataset(media_root, 4), run_worker)
    sft = _launch(admin_client, stage="sft", base_model=str(student), snapshot=snapshot.pk, recipe="sft_tiny",
                  overrides={"max_steps": 3, "save_steps": 3, "logging_steps": 1})
    broken = _launch(admin_client, stage="sft", base_model=str(media_root / "no-such-model"), snapshot=snapshot.pk,
                     recipe="sft_tiny", overrides={"max_steps": 3})
    run_worker("gpu")
    sft.refresh_from_db()
    assert sft.status == "succeeded", sft.error
    assert sft.environment["launcher"] == {"kind": "accelerate", "num_processes": 1, "cpu": True}
    assert sft.results["launch_command"][-4:-1] == ["-m", "pipeline.sft", "--config"]
    assert list(sft.metrics.filter(name="loss").values_list("step", flat=True)) == [1, 2, 3]
    assert sft.results["steps"] == 3 and (media_root / sft.checkpoint_path / "adapter_config.json").is_file()
    broken.refresh_from_db()
    assert broken.status == "failed" and "exited with status" in broken.error and "no-such-model" in broken.error

    grpo = _launch(admin_client, stage="grpo", base_model="ignored", parent=sft.pk, snapshot=snapshot.pk,
                   recipe="grpo_tiny", overrides={"max_steps": 1, "num_generations": 2,
                                                  "per_device_train_batch_size": 2, "max_completion_length": 8})
    run_worker("gpu")
    grpo.refresh_from_db()
    assert grpo.status == "succeeded", grpo.error
    names = set(grpo.metrics.values_list("name", flat=True))
    assert "reward" in names and any(n.startswith("rewards/") for n in names), names


def test_it_cancels_a_launched_stage_which_stops_with_a_checkpoint(admin_client: Client, media_root: Path,
                                                                  student: Path, run_worker) -> None:
    snapshot = _snapshot(admin_client, _tone_dataset(media_root, 4), run_worker)
    run = _launch(admin_client, stage="sft", base_model=str(student), snapshot=snapshot.pk, recipe="sft_tiny",
                  overrides={"max_steps": 500, "save_steps": 400, "logging_steps": 1})
    busy = _cancel_in_flight(admin_client, run, lambda: run.metrics.filter(name="loss").exists(),
                             TRAINING_LAUNCHER="accelerate")
    stage = [p for p, cmdline in busy.items() if "pipeline.sft" in cmdline]
    run.refresh_from_db()
    assert run.status == "cancelled" and run.results["stopped_early"] is True and run.results["steps"] < 500
    assert (media_root / run.output_dir / f"checkpoint-{run.results['steps']}" / "trainer_state.json").is_file()
    assert stage and not [p for p in stage if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_it_names_the_four_baselines_from_the_lineage(users) -> None:
    def run(stage: str, parent: TrainingRun | None = None, targets: str = "chains") -> TrainingRun:
        return TrainingRun(stage=stage, base_model="m", parent=parent, config={"_targets": targets})

    label_sft, chain_sft = run("sft", targets="label_only"), run("sft")
    cases = {
        "pretrained student": run("eval"),
        "label-only SFT": run("eval", label_sft),
        "label-only GRPO": run("eval", run("grpo")),
        "SightSound (chain SFT → GRPO)": run("eval", run("grpo", chain_sft)),
        "label-only SFT → GRPO": run("eval", run("grpo", label_sft)),
    }
    assert {comparison.baseline_label(r): name for name, r in cases.items()} == {n: n for n in cases}


def test_it_refuses_evaluations_sharing_a_clip_with_training_unless_marked_in_sample(
    media_root: Path, student: Path
) -> None:
    from webapp.training.models import SnapshotQuestion
    from webapp.training.recipes import LaunchError

    trained = _tone_dataset(media_root, 4, slug="trained")
    snapshot = DatasetSnapshot.objects.create(dataset=trained, version=1, status="succeeded", export_dir="x")
    SnapshotQuestion.objects.bulk_create([SnapshotQuestion(snapshot=snapshot, question=q)
                                          for q in trained.questions.filter(split="train")])
    sft = TrainingRun.objects.create(stage="sft", base_model=str(student), snapshot=snapshot, status="succeeded",
                                     config={"_targets": "label_only"})
    other = _tone_dataset(media_root, 4, slug="other")  # another dataset over clips with the same media names
    data = {"stage": "eval", "parent": sft, "base_model": "m", "eval_dataset": other, "eval_split": "train"}
    with pytest.raises(LaunchError, match=r"shares 0 question\(s\) and 3 clip\(s\)"):
        runs.launch_check(data)
    held_out = runs.launch_check({**data, "eval_split": "test"})  # clip t3 only ever served a test question
    assert held_out.config["_eval"]["in_sample"] is False
    marked = runs.launch_check({**data, "in_sample": True})
    assert marked.config["_eval"]["in_sample"] is True and marked.config["_eval"]["overlap"]["clips"] == 3
    with pytest.raises(LaunchError, match="in-sample"):
        runs.launch_check({"stage": "eval", "parent": sft, "base_model": "m", "snapshot": snapshot})


def test_it_gives_evaluation_at_least_the_completion_budget_the_model_trained_with(student: Path) -> None:
    grpo = TrainingRun(stage="grpo", base_model="m", config={"max_completion_length": 768})
    assert runs.eval_budget(None) == 512 and runs.eval_budget(grpo) == 768


def test_it_picks_the_final_evaluations_checkpoint_on_the_validation_split_never_the_test_set(
    admin_client: Client, media_root: Path, student: Path, run_worker
) -> None:
    dataset = _tone_dataset(media_root, 12)  # 3 test questions; two train ones become the validation split
    Question.objects.filter(dataset=dataset, external_id__in=["0", "1"]).update(split="val")
    snapshot = _snapshot(admin_client, dataset, run_worker, split="train")
    steps = {"max_steps": 2, "save_steps": 1, "save_total_limit": 1, "logging_steps": 1, "val_every_steps": 1,
             "val_max_new_tokens": 4}
    refused = admin_client.post("/training/new/", {"stage": "sft", "base_model": str(student), "snapshot": snapshot.pk,
                                                   "recipe": "sft_tiny", "val_split": "test"})
    assert refused.status_code == 400 and "test split never chooses a checkpoint" in refused.content.decode()
    sft = _launch(admin_client, stage="sft", base_model=str(student), snapshot=snapshot.pk, recipe="sft_tiny",
                  val_split="val", overrides=steps)
    no_curve = _launch(admin_client, stage="sft", base_model=str(student), snapshot=snapshot.pk, recipe="sft_tiny",
                       overrides={"max_steps": 1})
    run_worker("gpu")
    sft.refresh_from_db()
    assert sft.status == "succeeded", sft.error
    assert list(sft.metrics.filter(name="val/accuracy").values_list("step", flat=True)) == [1, 2]
    assert (media_root / sft.output_dir / "best-adapter" / "adapter_config.json").is_file()

    best = _launch(admin_client, stage="eval", base_model="ignored", parent=sft.pk, eval_dataset=dataset.pk,
                   eval_split="test", checkpoint="best", overrides={"max_new_tokens": 4})
    assert runs.stage_config(best).adapter == str(media_root / sft.output_dir / "best-adapter")
    refused = admin_client.post("/training/new/", {"stage": "eval", "base_model": "x", "parent": no_curve.pk,
                                                   "eval_dataset": dataset.pk, "eval_split": "test",
                                                   "checkpoint": "best"})
    assert refused.status_code == 400 and "has none" in refused.content.decode()


def test_it_trains_dpo_on_the_snapshots_preference_pairs_after_chain_sft(
    admin_client: Client, media_root: Path, student: Path, run_worker, users
) -> None:
    """Curators rejected a hallucinated chain on each question: DPO from the chain SFT adapter trains on the pairs,
    reports its margins live, and its evaluation is the comparison page's fifth baseline."""
    from webapp.curation.models import Review

    dataset = _tone_dataset(media_root, 4)
    for q in dataset.questions.all():
        wrong = 1 - q.answer_index
        bad = Chain.objects.create(run=GenerationRun.objects.get(dataset=dataset), question=q, sample_index=1,
                                   decision="rejected", version=1, is_correct=True,
                                   text=f"<think>The tone is {['low', 'high'][wrong]}.</think><answer>"
                                        f"{'AB'[q.answer_index]}</answer>")
        Review.objects.create(chain=bad, curator=users["curator"], action="reject", from_decision="pending",
                              to_decision="rejected", reason="hallucinated-sound", chain_version=0)
    snapshot = _snapshot(admin_client, dataset, run_worker)
    assert "preferences.jsonl" in {f["name"] for f in snapshot.export_files}
    sft = _launch(admin_client, stage="sft", name="SightSound SFT", base_model=str(student), snapshot=snapshot.pk,
                  recipe="sft_tiny", overrides={"max_steps": 1, "save_steps": 1})
    run_worker("gpu")
    sft.refresh_from_db()
    dpo = _launch(admin_client, stage="dpo", name="SightSound DPO", base_model="ignored", parent=sft.pk,
                  snapshot=snapshot.pk, recipe="dpo_tiny",
                  overrides={"max_steps": 2, "save_steps": 1, "logging_steps": 1, "per_device_train_batch_size": 2})
    run_worker("gpu")
    dpo.refresh_from_db()
    assert dpo.status == "succeeded", dpo.error
    cfg = dpo.environment["stage_config"]
    assert cfg["train_file"].endswith(f"{snapshot.export_dir}/preferences.jsonl")
    assert cfg["adapter"] == str(media_root / sft.checkpoint_path)
    series = admin_client.get(f"/training/{dpo.pk}/metrics.json").json()["series"]
    assert [p[0] for p in series["rewards/margins"]] == [1, 2] and "loss" in series
    assert (media_root / dpo.checkpoint_path / "adapter_config.json").is_file()
    assert runs.stage_config(dpo, resume=True).resume is True  # resume continues from its checkpoint-N/

    ev = TrainingRun(stage="eval", parent=dpo, base_model=dpo.base_model)
    assert comparison.baseline_label(ev) == comparison.SIGHTSOUND_DPO
    assert "dpo_tiny" in admin_client.get("/training/new/?stage=dpo").content.decode()
