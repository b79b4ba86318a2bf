"""The storage page: what the deployment keeps on disk per dataset (media and derived files, summed from sizes
recorded at import and processing), per snapshot export and per run folder, and the disk's free space."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.browser.helpers import import_real_question
from webapp.catalog.models import Clip
from webapp.core.housekeeping import size
from webapp.training.models import DatasetSnapshot, TrainingRun

pytestmark = pytest.mark.django_db


def test_processing_records_what_it_wrote_for_each_clip(tmp_path: Path, real_videos: Path, media_root: Path) -> None:
    import_real_question(tmp_path, real_videos, dataset="sizes")  # imported and processed
    clip = Clip.objects.get()
    assert clip.status == "ready"
    assert clip.derived_bytes == size(media_root / clip.derived_dir) > 32_000 * 5  # the wav alone: 32 kB a second


def test_the_storage_page_sums_datasets_exports_and_run_folders(admin_client: Client, curator_client: Client,
                                                                media_root: Path) -> None:
    from tests.webapp.review_factories import make_dataset

    ds = make_dataset()
    Clip.objects.create(dataset=ds, name="a", kind="video", media_path="m/a.mp4", size_bytes=3_000_000,
                        derived_bytes=1_000_000)
    Clip.objects.create(dataset=ds, name="b", kind="video", media_path="m/b.mp4", size_bytes=2_000_000)  # pending
    snapshot = DatasetSnapshot.objects.create(dataset=ds, version=1, status="succeeded", export_dir="exports/s1")
    (media_root / "exports/s1").mkdir(parents=True)
    (media_root / "exports/s1/sft.jsonl").write_bytes(b"x" * 4096)
    run = TrainingRun.objects.create(stage="sft", base_model="tiny", status="succeeded", snapshot=snapshot)
    (media_root / run.output_dir / "checkpoint-2").mkdir(parents=True)
    (media_root / run.output_dir / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"w" * 2 * 1024 * 1024)
    TrainingRun.objects.create(stage="eval", base_model="tiny", status="failed")  # no folder: not listed

    assert curator_client.get(reverse("training:storage")).status_code == 403
    page = admin_client.get(reverse("training:storage"))
    report = page.context["report"]
    assert [(d.clips, d.media, d.derived, d.unmeasured) for d in report.datasets] == [(2, 5_000_000, 1_000_000, 1)]
    assert [(s.subject, s.bytes) for s in report.snapshots] == [(snapshot, 4096)]
    assert [(r.subject, r.bytes) for r in report.runs] == [(run, 2 * 1024 * 1024)]
    assert report.total == 5_000_000 + 1_000_000 + 4096 + 2 * 1024 * 1024
    html = page.content.decode()
    assert "4.8\xa0MB" in html and "2.0\xa0MB" in html and "Delete checkpoints…" in html
