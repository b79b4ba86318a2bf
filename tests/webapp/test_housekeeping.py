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
