"""Admins delete a dataset after seeing what it removes and frees; nothing a kept snapshot stands on goes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.webapp.conftest import ANNOTATIONS
from webapp.catalog.models import Clip, Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db


@pytest.fixture
def avqa(real_videos: Path, media_root: Path) -> Dataset:
    call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(real_videos), dataset="AVQA sample",
                 stdout=io.StringIO())
    return Dataset.objects.get()


def test_it_shows_what_deleting_frees_then_deletes_rows_and_files(admin_client: Client, avqa: Dataset,
                                                                  media_root: Path) -> None:
    media = media_root / "media" / avqa.slug
    stored = sum(p.stat().st_size for p in media.iterdir())
    page = admin_client.get(f"/datasets/{avqa.slug}/delete/").content.decode()
    assert f'id="bytes-freed">{_size(stored)}</strong>' in page
    assert f"<td>questions</td><td class=\"num\">{Question.objects.count()}</td>" in page
    r = admin_client.post(f"/datasets/{avqa.slug}/delete/")
    assert r.status_code == 302 and not Dataset.objects.exists() and not Clip.objects.exists()
    assert not ImportRun.objects.exists() and not media.exists()


def test_it_keeps_a_dataset_a_snapshot_stands_on(admin_client: Client, avqa: Dataset, media_root: Path) -> None:
    from webapp.training.models import DatasetSnapshot

    DatasetSnapshot.objects.create(dataset=avqa, version=1, status="succeeded")
    page = admin_client.get(f"/datasets/{avqa.slug}/delete/").content.decode()
    assert 'id="delete-blocked"' in page and "AVQA sample v1" in page and "Delete AVQA sample</button>" not in page
    assert admin_client.post(f"/datasets/{avqa.slug}/delete/").status_code == 409
    assert Dataset.objects.exists() and (media_root / "media" / avqa.slug).exists()


def test_it_waits_for_a_running_import(admin_client: Client, avqa: Dataset) -> None:
    ImportRun.objects.filter(dataset=avqa).update(status="running")
    assert admin_client.post(f"/datasets/{avqa.slug}/delete/").status_code == 409
    assert Dataset.objects.exists()


def test_it_is_for_admins_only(curator_client: Client, avqa: Dataset) -> None:
    assert curator_client.get(f"/datasets/{avqa.slug}/delete/").status_code == 403
    assert curator_client.post(f"/datasets/{avqa.slug}/delete/").status_code == 403
    assert "Delete…" not in curator_client.get(f"/datasets/{avqa.slug}/").content.decode()


def _size(n: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return filesizeformat(n)


def test_it_deletes_a_curated_dataset_with_its_runs_chains_and_reviews(admin_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    from tests.webapp.review_factories import make_dataset, make_question
    from webapp.curation.models import Chain, GenerationRun, Review

    dataset = make_dataset()
    chain = make_question(dataset, 1, chains=2).chains.first()
    GenerationRun.objects.update(status="succeeded")  # a queued one would block the delete (the test above)
    Review.objects.create(chain=chain, curator=users["curator"], action="accept", from_decision="pending",
                          to_decision="accepted", chain_version=0)
    page = admin_client.get(f"/datasets/{dataset.slug}/delete/").content.decode()
    assert '<td>chains</td><td class="num">2</td>' in page and '<td>reviews</td><td class="num">1</td>' in page
    assert Chain.objects.count() == 2  # the preview deleted nothing
    assert admin_client.post(f"/datasets/{dataset.slug}/delete/").status_code == 302
    assert not (GenerationRun.objects.exists() or Chain.objects.exists() or Review.objects.exists())


# --- snapshots, checkpoints, generation runs ------------------------------------------------------------------
def _curated(users) -> tuple[Dataset, object]:  # type: ignore[no-untyped-def]
    """A dataset with a finished teacher run of two chains, one with a review."""
    from tests.webapp.review_factories import make_dataset, make_question
    from webapp.curation.models import GenerationRun, Review

    dataset = make_dataset()
    chain = make_question(dataset, 1, chains=2).chains.first()
    GenerationRun.objects.update(status="succeeded", kind="teacher")
    Review.objects.create(chain=chain, curator=users["curator"], action="accept", from_decision="pending",
                          to_decision="accepted", chain_version=0)
    return dataset, GenerationRun.objects.get()


def _snapshot(dataset: Dataset, media_root: Path, status: str = "succeeded"):  # type: ignore[no-untyped-def]
    from webapp.curation.models import Chain
    from webapp.training.models import DatasetSnapshot, SnapshotItem

    snapshot = DatasetSnapshot.objects.create(dataset=dataset, version=1, status=status,
                                              export_dir=f"exports/{dataset.slug}/v1")
    for chain in Chain.objects.all():
        SnapshotItem.objects.create(snapshot=snapshot, chain=chain, text=chain.text, chain_version=0)
    export = media_root / snapshot.export_dir
    export.mkdir(parents=True)
    (export / "sft.jsonl").write_bytes(b"x" * 3000)
    return snapshot


def test_it_deletes_a_snapshot_with_its_items_and_export(admin_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.curation.models import Chain
    from webapp.training.models import DatasetSnapshot, SnapshotItem

    dataset, _run = _curated(users)
    snapshot = _snapshot(dataset, media_root)
    page = admin_client.get(f"/snapshots/{snapshot.pk}/delete/").content.decode()
    assert f'id="bytes-freed">{_size(3000)}</strong>' in page
    assert '<td>snapshot items</td><td class="num">2</td>' in page
    assert f'href="/snapshots/{snapshot.pk}/delete/"' in admin_client.get(f"/snapshots/{snapshot.pk}/").content.decode()
    r = admin_client.post(f"/snapshots/{snapshot.pk}/delete/")
    assert r.status_code == 302 and not DatasetSnapshot.objects.exists() and not SnapshotItem.objects.exists()
    assert Chain.objects.count() == 2 and not (media_root / "exports" / dataset.slug / "v1").exists()


def test_it_keeps_a_snapshot_a_training_run_uses(admin_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.training.models import DatasetSnapshot, TrainingRun

    dataset, _run = _curated(users)
    snapshot = _snapshot(dataset, media_root)
    run = TrainingRun.objects.create(stage="sft", snapshot=snapshot, base_model="m", status="succeeded")
    page = admin_client.get(f"/snapshots/{snapshot.pk}/delete/").content.decode()
    assert 'id="delete-blocked"' in page and str(run) in page
    assert admin_client.post(f"/snapshots/{snapshot.pk}/delete/").status_code == 409
    assert DatasetSnapshot.objects.exists() and (media_root / snapshot.export_dir / "sft.jsonl").exists()


def test_it_waits_for_a_building_snapshot(admin_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    dataset, _run = _curated(users)
    snapshot = _snapshot(dataset, media_root, status="running")
    assert admin_client.post(f"/snapshots/{snapshot.pk}/delete/").status_code == 409
    assert (media_root / snapshot.export_dir).exists()


def _trained(media_root: Path, users, **fields):  # type: ignore[no-untyped-def]
    """A finished SFT run with two checkpoints, its adapter and a predictions file of an evaluation in its folder."""
    from webapp.training.models import TrainingRun

    dataset, _run = _curated(users)
    snapshot = _snapshot(dataset, media_root)
    run = TrainingRun.objects.create(stage="sft", snapshot=snapshot, base_model="m", status="succeeded", **fields)
    out = media_root / run.output_dir
    for folder in ("checkpoint-10", "checkpoint-20", "adapter"):
        (out / folder).mkdir(parents=True)
        (out / folder / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    (out / "predictions.jsonl").write_text('{"id": "1", "correct": true}\n')
    predictions = f"{run.output_dir}/predictions.jsonl"
    TrainingRun.objects.filter(pk=run.pk).update(checkpoint_path=f"{run.output_dir}/adapter",
                                                 results={"steps": 20, "predictions": predictions})
    run.refresh_from_db()
    return run


def test_it_deletes_a_runs_checkpoints_and_keeps_the_run(admin_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.training.models import MetricPoint, TrainingRun

    run = _trained(media_root, users)
    MetricPoint.objects.create(run=run, step=10, name="train/loss", value=1.0)
    detail = admin_client.get(f"/training/{run.pk}/").content.decode()
    assert f'href="/training/{run.pk}/checkpoints/delete/"' in detail and "Evaluate it" in detail
    page = admin_client.get(f"/training/{run.pk}/checkpoints/delete/").content.decode()
    assert f'id="bytes-freed">{_size(3000)}</strong>' in page
    assert admin_client.post(f"/training/{run.pk}/checkpoints/delete/").status_code == 302
    out = media_root / run.output_dir
    assert sorted(p.name for p in out.iterdir()) == ["predictions.jsonl"]
    run = TrainingRun.objects.get(pk=run.pk)
    assert run.results["steps"] == 20 and run.metrics.count() == 1 and run.results.get("checkpoints_deleted_at")
    detail = admin_client.get(f"/training/{run.pk}/").content.decode()
    assert "checkpoints deleted on" in detail
    assert "Evaluate it" not in detail and "GRPO from it" not in detail and "adapter.zip" not in detail
    TrainingRun.objects.filter(pk=run.pk).update(status="failed")
    assert "Resume from the start" in admin_client.get(f"/training/{run.pk}/").content.decode()


def test_it_offers_no_run_to_start_from_once_its_checkpoints_are_gone(admin_client: Client, users,
                                                                     media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.training.forms import TrainingRunForm

    run = _trained(media_root, users)
    assert run in TrainingRunForm().fields["parent"].queryset
    admin_client.post(f"/training/{run.pk}/checkpoints/delete/")
    assert run not in TrainingRunForm().fields["parent"].queryset


def test_it_keeps_checkpoints_a_queued_run_reads(admin_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.training.models import TrainingRun

    run = _trained(media_root, users)
    child = TrainingRun.objects.create(stage="eval", parent=run, base_model="m", status="queued")
    page = admin_client.get(f"/training/{run.pk}/checkpoints/delete/").content.decode()
    assert 'id="delete-blocked"' in page and str(child) in page
    assert admin_client.post(f"/training/{run.pk}/checkpoints/delete/").status_code == 409
    assert (media_root / run.output_dir / "adapter").exists()
    TrainingRun.objects.filter(pk=child.pk).update(status="succeeded")
    TrainingRun.objects.filter(pk=run.pk).update(status="running")
    assert admin_client.post(f"/training/{run.pk}/checkpoints/delete/").status_code == 409


def test_it_deletes_a_generation_run_with_its_chains_verdicts_and_reviews(admin_client: Client, users,
                                                                         media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.curation.models import Chain, GenerationRun, Review, Verdict

    dataset, run = _curated(users)
    page = admin_client.get(f"/runs/{run.pk}/delete/").content.decode()
    assert '<td>chains</td><td class="num">2</td>' in page and '<td>reviews</td><td class="num">1</td>' in page
    assert '<td>verdicts</td><td class="num">2</td>' in page
    assert f'href="/runs/{run.pk}/delete/"' in admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert admin_client.post(f"/runs/{run.pk}/delete/").status_code == 302
    assert not (GenerationRun.objects.exists() or Chain.objects.exists() or Review.objects.exists()
                or Verdict.objects.exists())
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_it_keeps_a_generation_run_a_snapshot_froze_or_a_validation_judges(admin_client: Client, users,
                                                                          media_root: Path) -> None:  # type: ignore[no-untyped-def]
    from webapp.curation.models import Chain, GenerationRun

    dataset, run = _curated(users)
    validation = GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=run, status="succeeded")
    page = admin_client.get(f"/runs/{run.pk}/delete/").content.decode()
    assert 'id="delete-blocked"' in page and str(validation) in page
    assert admin_client.post(f"/runs/{run.pk}/delete/").status_code == 409
    validation.delete()
    _snapshot(dataset, media_root)
    page = admin_client.get(f"/runs/{run.pk}/delete/").content.decode()
    assert 'id="delete-blocked"' in page and "snapshot item" in page
    assert admin_client.post(f"/runs/{run.pk}/delete/").status_code == 409 and Chain.objects.count() == 2


def test_it_waits_for_an_active_generation_run(admin_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    from webapp.curation.models import GenerationRun

    _dataset, run = _curated(users)
    GenerationRun.objects.filter(pk=run.pk).update(status="running")
    assert admin_client.post(f"/runs/{run.pk}/delete/").status_code == 409 and GenerationRun.objects.exists()


def test_the_new_deletions_are_for_admins_only(curator_client: Client, users, media_root: Path) -> None:  # type: ignore[no-untyped-def]
    run = _trained(media_root, users)
    generation = run.snapshot.dataset.generation_runs.get()
    for url, page in ((f"/snapshots/{run.snapshot_id}/delete/", f"/snapshots/{run.snapshot_id}/"),
                      (f"/training/{run.pk}/checkpoints/delete/", f"/training/{run.pk}/"),
                      (f"/runs/{generation.pk}/delete/", f"/runs/{generation.pk}/")):
        assert curator_client.get(url).status_code == 403 and curator_client.post(url).status_code == 403
        assert url not in curator_client.get(page).content.decode()


# --- archiving a dataset ------------------------------------------------------------------------------------------
def test_it_archives_a_dataset_out_of_the_datasets_page_and_review_queue_and_back(admin_client: Client,
                                                                                  users) -> None:  # type: ignore[no-untyped-def]
    dataset, _run = _curated(users)
    listed = f'href="/datasets/{dataset.slug}/"'
    queued = f'href="/review/q/{Question.objects.get().pk}/'
    assert listed in admin_client.get("/").content.decode()
    assert queued in admin_client.get("/review/").content.decode()
    assert admin_client.post(f"/datasets/{dataset.slug}/archive/", {"archived": "1"}).status_code == 302
    page = admin_client.get("/").content.decode()
    assert listed not in page and 'href="/?archived=1"' in page
    assert listed in admin_client.get("/?archived=1").content.decode()
    assert queued not in admin_client.get("/review/").content.decode()
    assert queued in admin_client.get(f"/review/?dataset={dataset.slug}").content.decode()
    assert 'id="archived"' in admin_client.get(f"/datasets/{dataset.slug}/").content.decode()
    admin_client.post(f"/datasets/{dataset.slug}/archive/", {"archived": "0"})
    assert listed in admin_client.get("/").content.decode()
    assert queued in admin_client.get("/review/").content.decode()


def test_it_lets_only_admins_archive(curator_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    dataset, _run = _curated(users)
    assert curator_client.post(f"/datasets/{dataset.slug}/archive/", {"archived": "1"}).status_code == 403
    assert not Dataset.objects.get(pk=dataset.pk).archived
    assert "/archive/" not in curator_client.get(f"/datasets/{dataset.slug}/").content.decode()
