"""python manage.py rebuild_review_tallies

Recount the review dashboards' tallies from the chains and reviews, and the Datasets page's from the clips and
questions, and remake their triggers (curation/review/tallies.py, catalog/tallies.py):
after a load that bypassed triggers (COPY in replica mode, a restore without them), or a change of TIME_ZONE.
Writers wait while it runs; the figures are the same as before when nothing bypassed the triggers.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.catalog import tallies as catalog_tallies
from webapp.curation.review import tallies


class Command(BaseCommand):
    help = "Recount the Datasets page's and review dashboards' counters from scratch and remake their triggers."

    def handle(self, *args: Any, **opts: Any) -> None:
        rows = {**catalog_tallies.rebuild(), **tallies.rebuild()}
        self.stdout.write(", ".join(f"{name}: {n} rows" for name, n in rows.items()))
