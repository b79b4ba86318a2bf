"""Write a snapshot's export files: into its own folder under the storage root, or anywhere with --out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.core.models import RunStatus
from webapp.training import snapshots
from webapp.training.models import DatasetSnapshot


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("snapshot_id", type=int)
        parser.add_argument("--out", type=Path, help="Folder to write (default: MEDIA_ROOT/exports/<slug>/v<N>/).")

    def handle(self, *args: Any, snapshot_id: int, out: Path | None = None, **options: Any) -> None:
        try:
            snapshot = DatasetSnapshot.objects.select_related("dataset").get(pk=snapshot_id)
        except DatasetSnapshot.DoesNotExist:
            raise CommandError(f"no snapshot {snapshot_id}") from None
        if snapshot.status != RunStatus.SUCCEEDED:
            raise CommandError(f"snapshot {snapshot} is {snapshot.status}; only a built snapshot can be exported")
        files = snapshots.export(snapshot, Path(out).resolve() if out else None)
        where = out or snapshot.export_dir
        for f in files:
            self.stdout.write(f"{f['name']}\t{f['rows']} rows\t{f['bytes']} bytes")
        self.stdout.write(f"exported {snapshot} to {where}")
