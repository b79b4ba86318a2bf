"""Where a login lands, how the navigation marks the current page, and the styled 403/404/500 pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client, RequestFactory
from django.views import defaults

pytestmark = pytest.mark.django_db


def _current(html: str) -> list[str]:
    """The navigation links marked as the current page, by their text."""
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav)


def test_it_lands_curators_on_their_queue_and_admins_on_the_datasets(client: Client, users) -> None:
    r = client.post("/login/", {"username": "bob", "password": "pw-bob"})
    assert r.status_code == 302 and r["Location"] == "/review/"
    admin = Client()
    r = admin.post("/login/", {"username": "alice", "password": "pw-alice"})
    assert r.status_code == 302 and r["Location"] == "/"


def test_it_still_follows_next_after_login(client: Client, users) -> None:
    r = client.post("/login/?next=/snapshots/", {"username": "bob", "password": "pw-bob", "next": "/snapshots/"})
    assert r["Location"] == "/snapshots/"


@pytest.mark.parametrize(
    ("url", "current"),
    [
        ("/", "Datasets"),
        ("/runs/", "Runs"),
        ("/review/", "Review"),
        ("/review/dashboard/", "Review"),
        ("/review/adjudication/", "Adjudication"),
        ("/snapshots/", "Snapshots"),
        ("/training/", "Training"),
        ("/training/compare/", "Training"),
        ("/imports/new/", "Import"),
    ],
)
def test_it_marks_the_current_page_in_the_navigation(admin_client: Client, url: str, current: str) -> None:
    assert _current(admin_client.get(url).content.decode()) == [current]


def test_it_styles_a_missing_page_and_leads_back(curator_client: Client) -> None:
    r = curator_client.get("/no-such-page/")
    html = r.content.decode()
    assert r.status_code == 404 and 'class="topbar"' in html and "Page not found" in html
    assert 'href="/review/"' in html.split("</header>", 1)[1], "the page leads back to the curator's queue"


def test_it_styles_a_refusal_says_why_and_leads_back(curator_client: Client) -> None:
    r = curator_client.get("/training/new/")
    html = r.content.decode()
    assert r.status_code == 403 and 'class="topbar"' in html and "needs the admin role" in html
    assert 'href="/review/"' in html.split("</header>", 1)[1]


def test_it_styles_a_server_error_without_the_database_and_leads_back(django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        r = defaults.server_error(RequestFactory().get("/"))
    html = r.content.decode()
    assert r.status_code == 500 and "/static/css/app.css" in html and 'href="/"' in html
    assert "Something went wrong" in html
