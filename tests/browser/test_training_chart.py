"""The run page's live chart in a real Chromium: points stored while the page is open are drawn without a reload."""

from __future__ import annotations

import pytest

from tests.browser.helpers import login as _login  # noqa: E402
from webapp.core.models import RunStatus
from webapp.training.models import MetricPoint, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

# The points drawn on the chart called `name`, read from Chart.js itself (what the canvas renders).
DRAWN = """name => {
  const fig = [...document.querySelectorAll('#chart-grid figure')]
    .find(f => f.querySelector('figcaption').textContent === name);
  if (!fig) return null;
  const chart = Chart.getChart(fig.querySelector('canvas'));
  return {steps: chart.data.datasets[0].data.map(p => p.x), xmax: chart.scales.x.max};
}"""


def _points(run: TrainingRun, steps: range) -> None:
    MetricPoint.objects.bulk_create(
        [MetricPoint(run=run, step=s, name=n, value=v) for s in steps
         for n, v in (("loss", 2.0 / s), ("learning_rate", 1e-3))])


def test_it_draws_new_metric_points_while_the_run_is_active(page, users) -> None:  # type: ignore[no-untyped-def]
    run = TrainingRun.objects.create(stage="grpo", base_model="tiny", status=RunStatus.RUNNING)
    _points(run, range(1, 4))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    fetches: list[str] = []
    page.on("request", lambda r: fetches.append(r.url) if "metrics.json" in r.url else None)
    _login(page, "bob", "pw-bob")
    page.goto(f"/training/{run.pk}/")
    page.wait_for_function(f"({DRAWN})('loss') && ({DRAWN})('loss').steps.length === 3")

    _points(run, range(4, 9))  # the worker logs five more steps while the page stays open
    page.wait_for_function(f"({DRAWN})('loss').steps.length === 8", timeout=10000)
    drawn = page.evaluate(DRAWN, "loss")
    assert drawn["steps"] == [1, 2, 3, 4, 5, 6, 7, 8] and drawn["xmax"] >= 8
    assert page.evaluate(DRAWN, "learning_rate")["steps"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert any("after=" in u and "after=-1" not in u for u in fetches), "later polls ask only for newer points"

    _points(run, range(9, 10))
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    page.wait_for_function(f"({DRAWN})('loss').steps.length === 9", timeout=10000)
    polls = len(fetches)
    page.wait_for_timeout(4500)  # two polling periods: a finished run is not polled any more
    assert len(fetches) == polls and errors == []
