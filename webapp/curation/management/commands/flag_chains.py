"""python manage.py flag_chains [--run N ...] [--dataset NAME]

(Re)compute the chain flags (pipeline/flags.py) of existing chains: runs stored before flags existed, or after the
thresholds changed. New teacher runs and chain imports are flagged by their job. Idempotent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.curation.flags import flag
from webapp.curation.models import Chain, GenerationRun


class Command(BaseCommand):
    help = "Compute the visual-only / restating / lucky-guess flags of stored chains, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, action="append", default=[], help="Only this generation run's chains.")
        parser.add_argument("--dataset", default="", help="Only this dataset's chains (by name).")

    def handle(self, *args: Any, **opts: Any) -> None:
        chains = Chain.objects.filter(run__kind__in=[GenerationRun.Kind.TEACHER, GenerationRun.Kind.IMPORTED])
        if opts["run"]:
            chains = chains.filter(run_id__in=opts["run"])
        if opts["dataset"]:
            chains = chains.filter(question__dataset__name=opts["dataset"])
        total = chains.count()
        n = flag(chains)
        self.stdout.write(f"{total} chains checked, {n} flagged.")
