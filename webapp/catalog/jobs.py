"""RQ jobs of the catalog, queued by dotted path: process one clip (`ingest`), run one uploaded import (`imports`).

Jobs take ids, never objects; the work itself lives in the modules they call, which never import this one.
"""

from __future__ import annotations

from pipeline.datasets import AnnotationFileError
from webapp.catalog.imports import run_import
from webapp.catalog.ingest import enqueue_clip_processing, ingest_clip
from webapp.catalog.leakage import compute_report
from webapp.catalog.models import Dataset, ImportRun
from webapp.core import storage
from webapp.core.models import Superseded


def process_clip_job(clip_id: int, attempt: int) -> str:
    return ingest_clip(clip_id, attempt)


def import_job(import_run_id: int, attempt: int) -> dict[str, int] | str:
    """Run an import uploaded through the UI; the annotation file was stored under the storage root."""
    import_run = ImportRun.objects.select_related("dataset").get(pk=import_run_id)
    try:
        report = run_import(import_run, storage.resolve(import_run.annotations_path), attempt=attempt)
    except AnnotationFileError:
        return {"created": 0, "errors": 1}  # recorded on the run; retrying the same file cannot help
    except Superseded as exc:
        return f"superseded: {exc}"
    enqueue_clip_processing(report.clips_to_process)
    return {"created": report.created, "errors": len(report.errors)}


def leak_report_job(dataset_id: int) -> str:
    """Compute a dataset's split-leakage report for the dataset page (catalog/leakage.py, shown_report)."""
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        return "dataset deleted"
    report = compute_report(dataset)
    return f"{len(report.rows)} rows in {report.seconds:.1f} s"
