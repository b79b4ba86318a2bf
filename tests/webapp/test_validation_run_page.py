"""The validation run page warns when the LALM judge is the student's own base model (it would grade its prior)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from webapp.catalog.models import Dataset
from webapp.curation.models import GenerationRun

pytestmark = pytest.mark.django_db

WARNING = "the student's own base model"


def _run(kind: str, model: str, validators: str = "lalm") -> GenerationRun:
    dataset, _ = Dataset.objects.get_or_create(name="d", slug="d", source_format="avqa")
    teacher = GenerationRun.objects.create(dataset=dataset, model=model if kind == "teacher" else "teacher-x",
                                           prompt_version="teacher-v1", status="succeeded")
    if kind == "teacher":
        return teacher
    return GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=teacher, model=model,
                                        backend="transformers" if model else "", status="succeeded",
                                        config={"validators": validators, "judge_model": model})


def test_it_warns_when_the_judge_is_the_students_base_model(curator_client: Client, settings,
                                                             tmp_path: Path) -> None:
    settings.STUDENT_MODEL = str(tmp_path / "qwen2-audio")
    for judge in (str(tmp_path / "qwen2-audio"), f"{tmp_path}/./qwen2-audio/"):
        page = curator_client.get(_run("validation", judge, "both").get_absolute_url()).content.decode()
        assert WARNING in page and "grades the student's prior" in page


def test_it_does_not_warn_for_another_judge_or_no_judge(curator_client: Client, settings, tmp_path: Path) -> None:
    settings.STUDENT_MODEL = str(tmp_path / "qwen2-audio")
    for run in (_run("validation", str(tmp_path / "other-judge")),
                _run("validation", "", "sound-events"),
                _run("teacher", str(tmp_path / "qwen2-audio"))):
        assert WARNING not in curator_client.get(run.get_absolute_url()).content.decode()


def test_it_warns_when_a_hub_id_judge_names_the_students_local_copy(curator_client: Client, settings,
                                                                    tmp_path: Path) -> None:
    settings.STUDENT_MODEL = str(tmp_path / "Qwen2-Audio-7B-Instruct")
    run = _run("validation", "Qwen/Qwen2-Audio-7B-Instruct")
    assert WARNING in curator_client.get(run.get_absolute_url()).content.decode()
