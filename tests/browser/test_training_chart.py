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


def test_it_draws_each_accuracy_with_its_confidence_interval_on_the_comparison(page, users) -> None:  # type: ignore[no-untyped-def]
    def summary(acc: float, low: float, high: float) -> dict:
        return {"accuracy": acc, "ci_low": low, "ci_high": high, "n": 40, "parse_failure_rate": 0.0,
                "truncation_rate": 0.1, "silent_accuracy": 0.5, "audio_gain": acc - 0.5}

    evals = [TrainingRun.objects.create(stage="eval", base_model="tiny", name=name, status=RunStatus.SUCCEEDED,
                                        results={"accuracy": acc, "n": 40, "summary": summary(acc, lo, hi),
                                                 "per_slice": {"question_type=Pitch": summary(acc, lo, hi)}})
             for name, acc, lo, hi in (("a", 0.6, 0.45, 0.75), ("b", 0.8, 0.68, 0.9))]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, "bob", "pw-bob")
    page.goto("/training/compare/?" + "&".join(f"runs={e.pk}" for e in evals))
    page.wait_for_function("typeof Chart !== 'undefined' && Chart.getChart(document.getElementById('chart-compare'))")
    drawn = page.evaluate("""() => {
      const chart = Chart.getChart(document.getElementById('chart-compare'));
      return {labels: chart.data.labels, bars: chart.data.datasets.map(d => d.data),
              heights: chart.getDatasetMeta(1).data.map(b => Math.round(b.height))};
    }""")
    assert drawn["labels"] == ["overall", "question_type=Pitch"]
    assert drawn["bars"] == [[[0.45, 0.75], [0.45, 0.75]], [[0.68, 0.9], [0.68, 0.9]]]
    assert all(h > 0 for h in drawn["heights"]) and errors == []


def test_it_draws_the_curves_as_a_grid_with_loss_rewards_kl_and_accuracy_first(page, users) -> None:  # type: ignore[no-untyped-def]
    run = TrainingRun.objects.create(stage="grpo", base_model="tiny", status=RunStatus.SUCCEEDED)
    names = ["epoch", "grad_norm", "kl", "learning_rate", "loss", "mean_token_accuracy", "reward",
             "rewards/format_reward", "completion_length"]
    MetricPoint.objects.bulk_create([MetricPoint(run=run, step=s, name=n, value=s) for s in (1, 2) for n in names])
    page.set_viewport_size({"width": 1280, "height": 900})
    _login(page, "bob", "pw-bob")
    page.goto(f"/training/{run.pk}/")
    page.wait_for_function(f"document.querySelectorAll('#chart-grid figure').length === {len(names)}")
    order = page.eval_on_selector_all("#chart-grid figcaption", "els => els.map(e => e.textContent)")
    assert order[:5] == ["loss", "reward", "rewards/format_reward", "kl", "mean_token_accuracy"]
    assert order[5:] == sorted(order[5:])
    boxes = [page.locator("#chart-grid figure").nth(i).bounding_box() for i in range(4)]
    assert len({round(b["y"]) for b in boxes}) == 1, "the first four charts share a row"
    assert all(b["height"] < 260 for b in boxes), "small multiples, not full-width charts"
