"""The learnable demo task in the app (pipeline/demo_task.py): its dataset, both splits, and its accepted chains.

The embedded demo's tiny teacher writes noise, so nothing it produces can show that training works. This task can:
its questions are imported like any MMAU file (train and test splits of one dataset), its reference chains (written
from the labels) come in through the chain import like chains generated on a cluster, and an admin accepts them in
one bulk action, recorded in the review history like any other. What is left is the product's own path: freeze a
snapshot of the train split, SFT the 2 s tiny student with the `sft_demo_task` recipe, evaluate it and the
pretrained student on the test split, compare (docs/demo.md). Everything here is idempotent.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.http import QueryDict

from pipeline.demo_task import DATASET_NAME, build_task
from webapp.catalog.models import Dataset
from webapp.curation.review import bulk
from webapp.curation.review.forms import ReviewFilterForm

ACCEPT_NOTE = "demo task: reference chains written from the labels (pipeline/demo_task.py)"
REFERENCE_MODEL = "reference chains (pipeline.demo_task)"


def install(admin: AbstractBaseUser, out_dir: Path, *, process_now: bool = False, stdout: IO[str] | None = None,
            stderr: IO[str] | None = None) -> Dataset:
    """Import the task's questions and chains and accept the chains as `admin`; returns the dataset."""
    files = build_task(out_dir)
    for path, split in ((files.train, "train"), (files.test, "test")):
        call_command("import_mmau", str(path), audio=str(out_dir), dataset=DATASET_NAME, split=split,
                     process_now=process_now, stdout=stdout, stderr=stderr)
    dataset = Dataset.objects.get(name=DATASET_NAME)
    call_command("import_chains", str(files.chains), dataset=DATASET_NAME, model=REFERENCE_MODEL,
                 prompt_version="demo-task-reference", now=True, stdout=stdout, stderr=stderr)
    accept_reference_chains(dataset, admin)
    return dataset


def accept_reference_chains(dataset: Dataset, admin: AbstractBaseUser) -> int:
    """One bulk accept of the dataset's pending chains, as the admin; returns how many it covered."""
    filters = ReviewFilterForm(QueryDict(f"dataset={dataset.slug}"), user=admin)
    if not filters.is_valid():
        raise ValueError(filters.errors.as_text())
    count = filters.chains().count()
    if count:
        bulk.start({"action": "accept", "reason": "", "note": ACCEPT_NOTE}, filters, count, admin, inline=True)
    return count
