"""axe-core on every page rendered from templates/, as an admin and as a curator, over realistic data.

The pages are listed by URL name and the list is checked against the URL confs, so a new page cannot be forgotten:
every named route outside Django's admin and the RQ dashboard is either visited here or listed in NOT_PAGES with why
(and a GET of it is checked to return no page). The error pages and the pages the middleware renders are served
through Playwright's router from the app's own handlers, so they are checked with the app's stylesheet too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.test.signals import template_rendered
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views import defaults

from tests.browser.helpers import login
from tests.browser.seed import Seeded, seed

pytestmark = pytest.mark.django_db(transaction=True)
SKIPPED_PREFIXES = ("admin/", "rq/")  # Django's admin and the RQ dashboard are not ours to restyle
BLOCKING = {"serious", "critical"}

# URL name -> the path to visit, from the seeded objects.
PAGES: dict[str, Callable[[Seeded], str]] = {
    "login": lambda s: reverse("login"),
    "catalog:datasets": lambda s: reverse("catalog:datasets"),
    "catalog:questions": lambda s: reverse("catalog:questions", args=[s.dataset.slug]),
    "catalog:question": lambda s: reverse("catalog:question", args=[s.question.pk]),
    "catalog:dataset_delete": lambda s: reverse("catalog:dataset_delete", args=[s.dataset.slug]),  # a snapshot keeps it
    "catalog:import_new": lambda s: reverse("catalog:import_new"),
    "catalog:import": lambda s: reverse("catalog:import", args=[s.imported.pk]),
    "curation:runs": lambda s: reverse("curation:runs"),
    "curation:run_new": lambda s: reverse("curation:run_new") + f"?dataset={s.dataset.pk}",
    "curation:validation_new": lambda s: reverse("curation:validation_new"),
    "curation:chain_import_new": lambda s: reverse("curation:chain_import_new"),
    "curation:run": lambda s: reverse("curation:run", args=[s.teacher.pk]),
    "curation:run_delete": lambda s: reverse("curation:run_delete", args=[s.teacher.pk]),  # kept: validated, frozen
    "review:queue": lambda s: reverse("review:queue"),
    "review:next": lambda s: reverse("review:next"),
    "review:item": lambda s: reverse("review:item", args=[s.question.pk]),
    "review:bulk": lambda s: reverse("review:bulk") + f"?action=accept&queue=dataset%3D{s.dataset.slug}",
    "review:bulk_detail": lambda s: reverse("review:bulk_detail", args=[s.bulk.pk]),
    "review:dashboard": lambda s: reverse("review:dashboard"),
    "review:adjudication": lambda s: reverse("review:adjudication"),
    "review:adjudicate": lambda s: reverse("review:adjudicate", args=[s.flagged.pk]),
    "training:snapshots": lambda s: reverse("training:snapshots"),
    "training:snapshot_new": lambda s: reverse("training:snapshot_new"),
    "training:snapshot": lambda s: reverse("training:snapshot", args=[s.snapshot.pk]),
    "training:snapshot_delete": lambda s: reverse("training:snapshot_delete", args=[s.snapshot.pk]),  # runs keep it
    "training:runs": lambda s: reverse("training:runs"),
    "training:run_new": lambda s: reverse("training:run_new") + f"?stage=eval&parent={s.sft.pk}",
    "training:compare": lambda s: reverse("training:compare"),
    "training:storage": lambda s: reverse("training:storage"),
    "training:run": lambda s: reverse("training:run", args=[s.sft.pk]),
    "training:run_checkpoints_delete": lambda s: reverse("training:run_checkpoints_delete", args=[s.sft.pk]),
    "training:run_predictions": lambda s: reverse("training:run_predictions", args=[s.evaluations[0].pk]),
}
# Pages reached only in a state the list above does not produce, visited as extra URLs.
MORE_PAGES: list[Callable[[Seeded], str]] = [
    lambda s: reverse("training:run", args=[s.grpo.pk]),  # an active run, polling
    lambda s: reverse("training:run", args=[s.evaluations[1].pk]),  # an evaluation with its results
    lambda s: reverse("curation:run", args=[s.validation.pk]),
    lambda s: reverse("curation:run_delete", args=[s.validation.pk]),  # allowed: what it removes and frees
    lambda s: reverse("review:next") + "?split=val",  # nothing to review
    lambda s: "/no-such-page/",  # 404
]

# URL name -> why it is not a page: a GET returns no HTML page of its own (405, a redirect, a file or JSON).
NOT_PAGES: dict[str, Callable[[Seeded], str]] = {
    "logout": lambda s: reverse("logout"),  # POST only
    "media": lambda s: reverse("media", args=[s.question.clip.media_path]),  # the clip itself
    "catalog:dataset_archive": lambda s: reverse("catalog:dataset_archive", args=[s.dataset.slug]),  # POST only
    "catalog:review_overlap": lambda s: reverse("catalog:review_overlap", args=[s.dataset.slug]),
    "catalog:reprocess_clip": lambda s: reverse("catalog:reprocess_clip", args=[s.question.clip.pk]),
    "curation:run_cancel": lambda s: reverse("curation:run_cancel", args=[s.teacher.pk]),
    "curation:run_resume": lambda s: reverse("curation:run_resume", args=[s.teacher.pk]),
    "review:previous": lambda s: reverse("review:previous", args=[s.question.pk]),  # redirects to an item
    "review:spectrogram": lambda s: reverse("review:spectrogram", args=[s.question.pk]),
    "review:decide": lambda s: reverse("review:decide", args=[1]),
    "review:undo": lambda s: reverse("review:undo", args=[1]),
    "review:order": lambda s: reverse("review:order", args=[s.dataset.slug]),
    "catalog:leaks": lambda s: reverse("catalog:leaks", args=[s.dataset.slug]),  # htmx fragment; else a redirect
    "training:snapshot_cancel": lambda s: reverse("training:snapshot_cancel", args=[s.snapshot.pk]),
    "training:snapshot_resume": lambda s: reverse("training:snapshot_resume", args=[s.snapshot.pk]),
    "training:snapshot_download": lambda s: reverse("training:snapshot_download", args=[s.snapshot.pk, "sft.jsonl"]),
    "training:run_metrics": lambda s: reverse("training:run_metrics", args=[s.sft.pk]),
    "training:run_hard_items": lambda s: reverse("training:run_hard_items", args=[s.evaluations[0].pk]),  # POST
    "training:predictions_file": lambda s: reverse("training:predictions_file", args=[s.evaluations[0].pk]),
    "training:adapter_download": lambda s: reverse("training:adapter_download", args=[s.sft.pk]),
    "training:run_cancel": lambda s: reverse("training:run_cancel", args=[s.sft.pk]),
    "training:run_resume": lambda s: reverse("training:run_resume", args=[s.sft.pk]),
}

# Templates rendered by something other than a page view, served to the browser through its router.
ROUTED = {
    "/__error/500/": lambda: defaults.server_error(RequestFactory().get("/")).content.decode(),
    "/__error/locked-out/": lambda: render_to_string("registration/locked_out.html", {"minutes": 15}),
    "/__error/queue/": lambda: render_to_string("queue_unreachable.html", {"message": "Redis did not answer."}),
    "/__error/database/": lambda: render_to_string("database_unavailable.html", {"message": "The database is gone."}),
}


def _named_routes(patterns: list | None = None, prefix: str = "", namespace: str = "") -> Iterator[str]:
    for p in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(p.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _named_routes(p.url_patterns, route, ns)
        elif isinstance(p, URLPattern) and p.name:
            yield namespace + p.name


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    found = Axe().run(page).response["violations"]
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(", ".join(n["target"]) for n in v["nodes"][:4])
        for v in found
        if v["impact"] in BLOCKING
    ]


def _serve(body: str) -> Callable[..., None]:
    return lambda route: route.fulfill(status=503, body=body, content_type="text/html")


@pytest.fixture
def rendered() -> Iterator[set[str]]:
    names: set[str] = set()

    def record(sender, template, context, **kwargs) -> None:  # type: ignore[no-untyped-def]
        names.add(template.name)

    template_rendered.connect(record)
    yield names
    template_rendered.disconnect(record)


def test_it_lists_every_named_page_or_says_why_it_is_not_one(
    users, tmp_path: Path, real_videos: Path, media_root: Path
) -> None:
    seeded = seed(tmp_path, real_videos, users, media_root)
    names = set(_named_routes())
    assert names - PAGES.keys() - NOT_PAGES.keys() == set(), "a named route is neither visited nor explained"
    assert (PAGES.keys() | NOT_PAGES.keys()) - names == set(), "a listed route no longer exists"
    client = Client()
    client.force_login(users["admin"])
    for name, url in NOT_PAGES.items():
        response = client.get(url(seeded))
        html = response.get("Content-Type", "").startswith("text/html") and response.status_code == 200
        assert not html, f"{name} answers GET with a page: visit it in PAGES"


def test_it_finds_no_serious_accessibility_violation_on_any_page(
    page, users, tmp_path: Path, real_videos: Path, media_root: Path, rendered: set[str]
) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(tmp_path, real_videos, users, media_root)
    for path, render in ROUTED.items():
        page.route(f"**{path}", _serve(render()))
    found: list[str] = []
    page.goto("/login/")
    found += _violations(page)
    for path in ROUTED:
        page.goto(path)
        found += _violations(page)
    urls = [url(seeded) for url in PAGES.values()] + [url(seeded) for url in MORE_PAGES]
    for role, (username, password) in {"admin": ("alice", "pw-alice"), "curator": ("bob", "pw-bob")}.items():
        page.context.clear_cookies()
        login(page, username, password)
        for url in urls:
            page.goto(url)
            page.wait_for_load_state("load")
            found += [f"{role} {v}" for v in _violations(page)]
    assert found == [], "\n".join(found)
    templates = {
        str(p.relative_to(settings.BASE_DIR / "templates"))
        for p in (Path(settings.BASE_DIR) / "templates").rglob("*.html")
        if not p.name.startswith("_") and not str(p.relative_to(settings.BASE_DIR / "templates")).startswith("admin/")
    }  # admin/: Django's own admin templates, overridden in part (the "about N" count), not ours to restyle
    assert templates - rendered == set(), "a template no visit renders"


# For each element focused by Tab: its outline and the colour behind that outline, which is drawn outside the element
# (outline-offset): the first opaque background among its ancestors.
FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  let node = el.parentElement, bg = "rgb(255, 255, 255)";
  while (node && node.nodeType === 1) {
    const b = getComputedStyle(node).backgroundColor;
    if (!b.startsWith("rgba") || !b.endsWith(", 0)")) { bg = b; break; }
    node = node.parentElement;
  }
  return {tag: el.tagName, text: (el.textContent || el.name || "").trim().slice(0, 30), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), color: style.outlineColor, background: bg};
}"""


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_it_shows_a_focus_ring_that_stands_out_on_every_control(page, users) -> None:  # type: ignore[no-untyped-def]
    """WCAG 2.4.7 / 1.4.11: a keyboard user sees where focus is, on the dark top bar as on the light page (3:1)."""
    login(page, "alice", "pw-alice")
    page.goto(reverse("training:compare"))
    weak, seen = [], []
    for _ in range(12):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring["tag"] == "BODY":  # past the last control
            break
        seen.append(ring)
        if ring["style"] == "none" or ring["width"] < 2 or _contrast(ring["color"], ring["background"]) < 3:
            weak.append(ring)
    assert len(seen) >= 10 and weak == []
