"""A real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
pytest_plugins = ["tests.webapp.conftest"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (the CI script does)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    """A page for driving the app: Playwright's own polling evaluates strings, which the app's CSP forbids, so this
    context bypasses the CSP; `strict_page` keeps it and checks that the app itself never needs an exception."""
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


@pytest.fixture
def strict_page(browser, live_server):  # type: ignore[no-untyped-def]
    """A page under the app's real Content-Security-Policy; `pg.csp_violations` collects what the browser refused."""
    context = browser.new_context(base_url=live_server.url)
    pg = context.new_page()
    pg.set_default_timeout(15000)
    pg.csp_violations = []
    pg.on("console", lambda m: pg.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    context.close()
