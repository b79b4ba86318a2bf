from __future__ import annotations

from collections.abc import Callable

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "webapp.catalog"
    label = "catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from webapp.catalog.imports import ensure_import_roots

        post_migrate.connect(ensure_import_roots, sender=self, dispatch_uid="catalog.ensure_import_roots")

    def requeue_stuck_work(self, job_is_alive: Callable[[str], bool]) -> int:
        """Recovery's hook (webapp.core.recovery): queue again every pending/processing clip whose job is gone."""
        from webapp.catalog.ingest import requeue_stuck_clips

        return requeue_stuck_clips(job_is_alive)
