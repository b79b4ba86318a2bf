"""python manage.py refresh_review_priorities [--dataset NAME]: refit each validator version's calibration on the
curator decisions so far and re-rank the pending questions of every active-queue dataset (or one).

The app does this by itself after each validation run and every `REFIT_EVERY` decisions; the command is for a
deployment that changed many decisions at once (an import, a bulk action) or wants the order fresh now.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.catalog.models import Dataset
from webapp.curation.review import priority


class Command(BaseCommand):
    help = "Refit validator calibrations on curator decisions and re-rank the review queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", help="Only this dataset (its name); default: every dataset.")

    def handle(self, *args: Any, **opts: Any) -> None:
        datasets = Dataset.objects.all()
        if opts["dataset"]:
            datasets = datasets.filter(name=opts["dataset"])
            if not datasets.exists():
                raise CommandError(f"no dataset named {opts['dataset']!r}")
        for dataset in datasets:
            n = priority.refresh(dataset)
            self.stdout.write(f"{dataset.name}: {dataset.get_review_order_display().lower()}, {n} pending chains "
                              "ranked" if dataset.review_order == Dataset.ReviewOrder.ACTIVE else
                              f"{dataset.name}: in import order ({n} chains reset)")
