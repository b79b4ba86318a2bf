"""Chains imported from a file: the upload form and the command, row errors, re-import, provenance on the run page."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset
from webapp.curation.models import Chain, GenerationRun, TeacherQuestion

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = "<think>I hear an engine revving at 2 s.</think><answer>B</answer>"
ROWS = [
    {"id": "c1", "question": "1", "chain": GOOD, "model": "big-lvlm-72b"},
    {"id": "c2", "question": "1", "chain": "<think>A dog barks.</think><answer>A</answer>"},
    "{broken",
    {"id": "c3", "question": "404", "chain": GOOD},
    {"id": "2", "sample_index": 0, "text": GOOD, "kept": False, "prompt_version": "teacher-v1"},
    {"id": "c4", "question": "2"},
]


def _jsonl(rows: list[object]) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


@pytest.fixture
def dataset(db) -> Dataset:
    ds = make_dataset()
    for n in (1, 2):
        make_question(ds, n, chains=0)
    return ds


def _upload(client: Client, dataset: Dataset, content: bytes, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/runs/import/",
        {
            "dataset": dataset.pk,
            "chains": SimpleUploadedFile("chains.jsonl", content),
            "model": "",
            "prompt_version": "",
            "prompt": "",
            **extra,
        },
    )


def test_it_imports_the_good_rows_and_reports_each_bad_one_with_line_and_reason(
    admin_client: Client, dataset: Dataset, run_worker
) -> None:
    r = _upload(admin_client, dataset, _jsonl(ROWS), prompt="Think, then answer.")
    assert r.status_code == 302, r.content.decode()[:2000]
    run = GenerationRun.objects.get(kind="imported")
    assert run.queue_name == "default" and run.status == "queued"
    run_worker("default")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    chains = {(c.question.external_id, c.sample_index): c for c in Chain.objects.filter(run=run)}
    assert sorted(chains) == [("1", 0), ("1", 1), ("2", 0)]
    assert chains[("1", 0)].kept and chains[("1", 0)].is_correct and chains[("1", 0)].parsed_answer == 1
    assert (chains[("1", 1)].kept, chains[("1", 1)].drop_reason) == (False, "wrong_answer")
    assert chains[("2", 0)].kept  # the file's "kept": false is the teacher's claim, computed again here
    assert TeacherQuestion.objects.filter(run=run).count() == 2
    errors = {e["row"]: e["reason"] for e in run.progress_metrics["errors"]}
    assert sorted(errors) == [3, 4, 6]
    assert errors[3].startswith("not JSON") and "unknown question id '404'" in errors[4]
    assert "missing field(s) chain" in errors[6]
    assert run.model == "big-lvlm-72b" and run.prompt_version == "teacher-v1"  # claimed by the rows
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert "Provenance" in page and "chains.jsonl" in page and "big-lvlm-72b" in page and "teacher-v1" in page
    assert "Rows not imported" in page and "unknown question id" in page and ">Validate it</a>" in page
    assert "Think, then answer." in page


def test_reimporting_the_same_file_changes_nothing(admin_client: Client, dataset: Dataset, run_worker) -> None:
    _upload(admin_client, dataset, _jsonl(ROWS))
    run_worker("default")
    first = GenerationRun.objects.get(kind="imported")
    before = Chain.objects.count()
    r = _upload(admin_client, dataset, _jsonl(ROWS))
    assert r.status_code == 302 and r.url == first.get_absolute_url()
    run_worker("default")
    assert GenerationRun.objects.filter(kind="imported").count() == 1 and Chain.objects.count() == before
    assert "nothing changed" in admin_client.get(r.url).content.decode()


def test_the_form_names_the_model_it_was_given_over_the_rows_claim(
    admin_client: Client, dataset: Dataset, run_worker
) -> None:
    _upload(admin_client, dataset, _jsonl(ROWS[:1]), model="our-cluster/qwen-72b")
    run_worker("default")
    assert GenerationRun.objects.get(kind="imported").model == "our-cluster/qwen-72b"


def test_curators_cannot_import(curator_client: Client, dataset: Dataset) -> None:
    assert _upload(curator_client, dataset, _jsonl(ROWS)).status_code == 403
    assert not GenerationRun.objects.filter(kind="imported").exists()


def test_the_command_imports_now_and_a_second_time_is_a_no_op(dataset: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "cluster_chains.jsonl"
    path.write_bytes(_jsonl(ROWS))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_chains", str(path), dataset=dataset.name, model="m", now=True, stdout=out, stderr=err)
    assert "3 chains (2 kept) from 6 rows, 3 row errors" in out.getvalue()
    assert "row 4 (id c3): unknown question id '404'" in err.getvalue()
    out = io.StringIO()
    call_command("import_chains", str(path), dataset=dataset.name, now=True, stdout=out, stderr=err)
    assert "already imported" in out.getvalue() and Chain.objects.count() == 3


def test_an_imported_run_can_be_validated(admin_client: Client, dataset: Dataset, run_worker) -> None:
    _upload(admin_client, dataset, _jsonl(ROWS))
    run_worker("default")
    run = GenerationRun.objects.get(kind="imported")
    form = admin_client.get(f"/runs/validate/?source={run.pk}").content.decode()
    assert f'value="{run.pk}" selected' in form


def test_the_chain_limits_are_what_the_database_stores() -> None:
    from pipeline.datasets.limits import CHAIN_LIMITS
    from webapp.catalog.models import Question

    assert CHAIN_LIMITS["question"] == Question._meta.get_field("external_id").max_length
    assert CHAIN_LIMITS["finish_reason"] == Chain._meta.get_field("finish_reason").max_length
    assert CHAIN_LIMITS["model"] == GenerationRun._meta.get_field("model").max_length
    assert CHAIN_LIMITS["prompt_version"] == GenerationRun._meta.get_field("prompt_version").max_length


def test_the_dataset_page_offers_admins_the_import_with_the_dataset_chosen(
    admin_client: Client, curator_client: Client, dataset: Dataset
) -> None:
    page = admin_client.get(dataset.get_absolute_url()).content.decode()
    assert f'href="/runs/import/?dataset={dataset.pk}"' in page
    assert "/runs/import/" not in curator_client.get(dataset.get_absolute_url()).content.decode()
    form = admin_client.get(f"/runs/import/?dataset={dataset.pk}").content.decode()
    assert f'value="{dataset.pk}" selected' in form and 'enctype="multipart/form-data"' in form


def test_a_file_without_chains_fails_its_run_and_imports_nothing(dataset: Dataset, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    with pytest.raises(CommandError, match="holds no chains"):
        call_command("import_chains", str(path), dataset=dataset.name, now=True, stdout=io.StringIO())
    run = GenerationRun.objects.get(kind="imported")
    assert run.status == "failed" and not run.chains.exists()
