"""Errors of failed runs can name hosts, paths and tracebacks: only admins read them, on every kind of run page."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.webapp.review_factories import make_dataset
from webapp.curation.models import BulkAction
from webapp.training.models import DatasetSnapshot

pytestmark = pytest.mark.django_db

SECRET = "Traceback: /srv/sightsound/var/storage on worker gpu-node-7.internal"


@pytest.mark.parametrize("kind", ["snapshot", "bulk"])
def test_a_failed_runs_error_is_shown_to_admins_only(kind: str, admin_client: Client, curator_client: Client,
                                                     users) -> None:  # type: ignore[no-untyped-def]
    if kind == "snapshot":
        run = DatasetSnapshot.objects.create(dataset=make_dataset(), version=1, status="failed", error=SECRET)
        url = f"/snapshots/{run.pk}/"
    else:
        run = BulkAction.objects.create(action="accept", filters={}, expected_count=3, created_by=users["curator"],
                                        status="failed", error=SECRET)
        url = f"/review/bulk/{run.pk}/"
    curator_page = curator_client.get(url).content.decode()
    assert SECRET not in curator_page and "shown to admins" in curator_page
    assert SECRET in admin_client.get(url).content.decode()
