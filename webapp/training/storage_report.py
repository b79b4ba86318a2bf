"""What the deployment keeps on disk, per dataset and per run: media, derived files, snapshot exports, checkpoints.

Why these sources: a full-size AVQA dataset is ~57k clips with a 16 kHz wav, peaks, a thumbnail and frames each, and
every training run leaves checkpoints; an admin must see what is big before the disk fills. Clip sizes are summed in
SQL from what import (`size_bytes`) and processing (`derived_bytes`) recorded, since walking 57k folders per view would
not do; exports and run folders are few and walked (the newest `LIMIT` of each). What bounds each is in
docs/deployment.md ("Storage at size").
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from webapp.catalog.models import Dataset
from webapp.core import storage
from webapp.core.housekeeping import size
from webapp.training.models import DatasetSnapshot, TrainingRun

LIMIT = 200


@dataclass(frozen=True)
class DatasetUse:
    dataset: Dataset
    clips: int
    media: int
    derived: int
    unmeasured: int  # clips processed before derived sizes were recorded, or not processed


@dataclass(frozen=True)
class FolderUse:
    subject: object  # a DatasetSnapshot or a TrainingRun
    bytes: int


@dataclass(frozen=True)
class Report:
    datasets: list[DatasetUse]
    snapshots: list[FolderUse]
    runs: list[FolderUse]
    uploads: int
    free: int
    total_disk: int

    @property
    def total(self) -> int:
        return (sum(d.media + d.derived for d in self.datasets) + sum(s.bytes for s in self.snapshots)
                + sum(r.bytes for r in self.runs) + self.uploads)


def _folder(relative: str) -> int:
    path = storage.resolve(relative)
    return size(path) if path.exists() else 0


def report() -> Report:
    rows = Dataset.objects.annotate(
        n=Count("clips"), media=Sum("clips__size_bytes"), derived=Sum("clips__derived_bytes"),
        unmeasured=Count("clips", filter=Q(clips__derived_bytes__isnull=True)),
    ).order_by("name")
    datasets = [DatasetUse(d, d.n, d.media or 0, d.derived or 0, d.unmeasured) for d in rows]
    snapshots = [FolderUse(s, _folder(s.export_dir)) for s in
                 DatasetSnapshot.objects.exclude(export_dir="").select_related("dataset").order_by("-pk")[:LIMIT]]
    runs = [FolderUse(r, _folder(r.output_dir)) for r in TrainingRun.objects.order_by("-pk")[:LIMIT]]
    root = storage.root()
    root.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(root)
    return Report(datasets, [s for s in snapshots if s.bytes], [r for r in runs if r.bytes],
                  _folder("uploads"), disk.free, disk.total)
