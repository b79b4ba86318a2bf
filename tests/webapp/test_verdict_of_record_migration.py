"""The backfill: existing chains get the deciding verdict of the newest succeeded validation run that judged them,
and existing validation runs say which policy (the old score policy) they judged by."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)



def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _with_curation_at(name: str) -> list[tuple[str, str]]:
    """Every app at its latest migration, curation at `name`."""
    return [n for n in _leaves() if n[0] != "curation"] + [("curation", name)]


def _migrate(target: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return MigrationExecutor(connection).loader.project_state(target).apps


@pytest.fixture
def old_apps():  # type: ignore[no-untyped-def]
    yield _migrate(_with_curation_at("0006_attempt_fencing"))
    _migrate(_leaves())


def test_the_backfill_keeps_the_newest_finished_runs_deciding_verdict(old_apps) -> None:  # type: ignore[no-untyped-def]
    Dataset = old_apps.get_model("catalog", "Dataset")
    Clip = old_apps.get_model("catalog", "Clip")
    Question = old_apps.get_model("catalog", "Question")
    GenerationRun = old_apps.get_model("curation", "GenerationRun")
    Chain = old_apps.get_model("curation", "Chain")
    Verdict = old_apps.get_model("curation", "Verdict")
    ds = Dataset.objects.create(name="d", slug="d", source_format="avqa")
    clip = Clip.objects.create(dataset=ds, name="c", kind="video", media_path="m.mp4", status="ready", duration=1.0)
    q = Question.objects.create(dataset=ds, clip=clip, external_id="1", text="?", choices=["a", "b"], answer_index=0,
                                answer_text="a", split="train", content_hash="h")
    teacher = GenerationRun.objects.create(dataset=ds, kind="teacher", status="succeeded")
    judged, unjudged = (Chain.objects.create(run=teacher, question=q, sample_index=i, text="t") for i in range(2))
    now = timezone.now()

    def validation(validators: str, status: str, finished: int):  # type: ignore[no-untyped-def]
        return GenerationRun.objects.create(dataset=ds, kind="validation", source_run=teacher, status=status,
                                            config={"validators": validators},
                                            finished_at=now + timedelta(minutes=finished))

    newest_finished = validation("both", "succeeded", 2)
    older = validation("sound-events", "succeeded", 1)
    unfinished = validation("sound-events", "failed", 3)
    for run, validator, label in [(older, "sound-events", "pass"), (newest_finished, "policy", "fail"),
                                  (newest_finished, "sound-events", "pass"), (newest_finished, "lalm", "pass"),
                                  (unfinished, "sound-events", "pass")]:
        Verdict.objects.create(chain=judged, run=run, validator=validator, validator_version=f"v{run.pk}",
                               label=label)
    Verdict.objects.create(chain=unjudged, run=unfinished, validator="sound-events", validator_version="x",
                           label="pass")

    new_apps = _migrate(_with_curation_at("0008_backfill_verdict_of_record"))
    Chain = new_apps.get_model("curation", "Chain")
    GenerationRun = new_apps.get_model("curation", "GenerationRun")
    record = Chain.objects.get(pk=judged.pk).verdict
    assert (record.run_id, record.validator, record.label) == (newest_finished.pk, "policy", "fail")
    assert Chain.objects.get(pk=unjudged.pk).verdict is None  # judged only by a run that failed
    assert GenerationRun.objects.get(pk=older.pk).config["policy"] == "score"
    assert GenerationRun.objects.get(pk=older.pk).config["policy_version"] == "policy/v1"
