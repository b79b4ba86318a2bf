"""Personas, a private storage root per test, real fixture media, and a real RQ burst worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import django_rq
import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.real_fixtures import AVQA_VIDEO_DIR as REAL_CLIPS  # noqa: E402
from tests.webapp.decoded_once import DecodeCache
from webapp.core.job_policy import JSONSimpleWorker
from webapp.core.roles import ensure_groups

ANNOTATIONS = Path(__file__).resolve().parents[1] / "fixtures" / "annotations"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.IMPORT_ROOTS = [tmp_path]
    return root


@pytest.fixture(autouse=True)
def empty_queues() -> None:
    for name in ("default", "gpu"):
        queue = django_rq.get_queue(name)
        queue.empty()


@pytest.fixture
def users(db) -> dict[str, User]:
    curators, admins = ensure_groups()
    alice = User.objects.create_user("alice", password="pw-alice")  # admin
    alice.groups.add(admins)
    bob = User.objects.create_user("bob", password="pw-bob")  # curator
    bob.groups.add(curators)
    eve = User.objects.create_user("eve", password="pw-eve")  # logged in, no role
    return {"admin": alice, "curator": bob, "nobody": eve}


def client_for(user: User) -> Client:
    """A test client logged in as `user`."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def curators(users) -> dict[str, User]:
    """bob (the `users` curator) and three more curators: carol, dave, frank."""
    group = users["curator"].groups.first()
    found = {"bob": users["curator"]}
    for name in ("carol", "dave", "frank"):
        found[name] = User.objects.create_user(name, password=f"pw-{name}")
        found[name].groups.add(group)
    return found


@pytest.fixture
def admin_client(users) -> Client:  # noqa: F811 - overrides pytest-django's superuser fixture on purpose
    return client_for(users["admin"])


@pytest.fixture
def curator_client(users) -> Client:
    return client_for(users["curator"])


@pytest.fixture
def nobody_client(users) -> Client:
    return client_for(users["nobody"])


@pytest.fixture
def real_videos(tmp_path: Path) -> Path:
    """A private copy of the real AVQA clips, so tests can add broken files beside them."""
    target = tmp_path / "videos"
    shutil.copytree(REAL_CLIPS, target)
    return target


@pytest.fixture(scope="session")
def decode_cache(tmp_path_factory: pytest.TempPathFactory) -> DecodeCache:
    """Real clips decoded once per session, for tests whose subject comes after ingest (decoded_once.py)."""
    return DecodeCache(tmp_path_factory.mktemp("decoded"))


@pytest.fixture
def run_worker():
    """Drain the queues with a real RQ worker on the real Redis (no fork: it shares the test database), reading jobs
    as the app's workers do: JSON, the app's own jobs only."""

    def _run(*queues: str) -> None:
        names = queues or ("default",)
        worker = django_rq.get_worker(*names, worker_class=JSONSimpleWorker)
        worker.work(burst=True)

    return _run
