"""python manage.py import_chains CHAINS.jsonl --dataset NAME [--validate-after sound-events] [--now]

Chains generated elsewhere become a generation run of kind *imported* (webapp/curation/chain_imports.py); the same
file again is a no-op. The run's job goes to the worker, or runs here with --now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.catalog.imports import format_error
from webapp.catalog.models import Dataset
from webapp.curation.chain_imports import queue_chain_import
from webapp.curation.forms import VALIDATORS
from webapp.curation.jobs import import_chains_job


class Command(BaseCommand):
    help = "Import a chains JSONL (teacher output, or {id, question, chain} rows) into a dataset as an imported run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("chains", type=Path, help="Chains JSONL file.")
        parser.add_argument("--dataset", required=True, help="Name of the dataset whose questions the chains answer.")
        parser.add_argument("--model", default="", help="Model that wrote the chains (blank: the rows' `model`).")
        parser.add_argument("--prompt-version", default="", help="Blank: the rows' `prompt_version`.")
        parser.add_argument("--prompt-file", type=Path, help="The prompt text they were generated with.")
        parser.add_argument(
            "--validate-after",
            choices=[v for v, _ in VALIDATORS],
            default="",
            help="Chain a validation run when the import succeeds.",
        )
        parser.add_argument("--now", action="store_true", help="Import in this process instead of on the worker.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["chains"]
        if not path.is_file():
            raise CommandError(f"chains file not found: {path}")
        dataset = Dataset.objects.filter(name=opts["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {opts['dataset']!r}: import its questions first")
        prompt = opts["prompt_file"].read_text(encoding="utf-8") if opts["prompt_file"] else ""
        run, created = queue_chain_import(
            dataset,
            path,
            model=opts["model"],
            prompt_version=opts["prompt_version"],
            prompt=prompt,
            validate_after=opts["validate_after"],
        )
        if not created:
            self.stdout.write(f"{path.name} is already imported into {dataset.name} as run #{run.pk}: nothing to do.")
            return
        if not opts["now"]:
            self.stdout.write(f"Queued chain import run #{run.pk} ({path.name} into {dataset.name}).")
            return
        import_chains_job(run.pk, run.attempt)
        run.refresh_from_db()
        metrics = run.progress_metrics
        self.stdout.write(
            f"Run #{run.pk} {run.status}: {metrics.get('chains', 0)} chains ({metrics.get('kept', 0)} "
            f"kept) from {metrics.get('rows', 0)} rows, {metrics.get('error_count', 0)} row errors."
        )
        for error in metrics.get("errors", []):
            self.stderr.write(format_error(error))
        if run.status == "failed":
            raise CommandError(run.error)
