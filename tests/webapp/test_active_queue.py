"""The active review queue: questions likely to hold hallucinated chains are served first, with the reason shown,
and the ranking learns from curator decisions (webapp/curation/review/priority.py, queue.py)."""

from __future__ import annotations

import django_rq
import pytest
from django.urls import reverse

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset, Question
from webapp.core import embedded_redis
from webapp.curation import review
from webapp.curation.models import Chain, GenerationRun, TeacherQuestion, ValidatorCalibration, Verdict
from webapp.curation.review import priority

pytestmark = pytest.mark.django_db


def judged(question: Question, score: float, label: str, version: str = "v1") -> Question:
    """Give every chain of the question a verdict of record with this score and label."""
    for chain in question.chains.all():
        Verdict.objects.filter(chain=chain).update(score=score, label=label, validator_version=version)
    return question


def test_an_active_dataset_serves_the_question_most_likely_hallucinated_first(users) -> None:
    ds = make_dataset()
    supported = judged(make_question(ds, 1), 1.0, "pass")
    unheard = judged(make_question(ds, 2), 0.0, "fail")
    priority.refresh(ds)
    assert review.claim_next(users["curator"]) == unheard
    assert Chain.objects.filter(question=unheard).values_list("queue_reason", flat=True).first() == \
        "few of its sound claims were heard"
    assert supported.chains.first().queue_priority < unheard.chains.first().queue_priority


def test_a_fifo_dataset_keeps_the_import_order(users) -> None:
    ds = make_dataset()
    first = judged(make_question(ds, 1), 1.0, "pass")
    judged(make_question(ds, 2), 0.0, "fail")
    priority.refresh(ds)
    Dataset.objects.filter(pk=ds.pk).update(review_order=Dataset.ReviewOrder.FIFO)
    priority.refresh(Dataset.objects.get(pk=ds.pk))
    assert set(Chain.objects.values_list("queue_priority", "queue_reason")) == {(0.0, "")}
    assert review.claim_next(users["curator"]) == first


def test_a_split_teacher_and_disagreeing_validators_raise_a_question(users) -> None:
    ds = make_dataset()
    calm = judged(make_question(ds, 1), 0.8, "pass")
    split = judged(make_question(ds, 2), 0.8, "pass")
    TeacherQuestion.objects.create(run=split.chains.first().run, question=split, agreement=0.25, n_samples=4,
                                   n_parsed=4)
    disputed = judged(make_question(ds, 3), 0.8, "pass")
    validation = GenerationRun.objects.create(dataset=ds, kind="validation", source_run=calm.chains.first().run)
    Verdict.objects.update(run=validation)  # one "both" run: its sound verdict decided, its judge said fail
    for chain in disputed.chains.all():
        Verdict.objects.create(chain=chain, run=validation, validator="judge", validator_version="j1", label="fail",
                               score=0.2)
    priority.refresh(ds)
    reasons = dict(Chain.objects.values_list("question_id", "queue_reason").distinct())
    assert reasons[split.pk] == "the teacher's samples disagreed on the answer"
    assert reasons[disputed.pk] == "validators disagree"
    assert review.claim_next(users["curator"]) in (split, disputed)
    p = dict(Chain.objects.values_list("question_id", "queue_priority").distinct())
    assert p[calm.pk] < min(p[split.pk], p[disputed.pk])


def overturned(ds: Dataset, bob, n: int = 40) -> None:  # type: ignore[no-untyped-def]
    """Curators found this validator version wrong both ways: its passes were hallucinated, its fails were fine."""
    for i in range(1, n + 1):
        q = judged(make_question(ds, i, chains=1), 0.9 if i % 2 else 0.1, "pass" if i % 2 else "fail")
        chain = q.chains.get()
        review.claim_next(bob, queue_chains=Chain.objects.filter(pk=chain.pk))
        if i % 2:
            review.decide(bob, chain.pk, chain.version, "reject", reason="hallucinated-sound")
        else:
            review.decide(bob, chain.pk, chain.version, "accept")


def test_curator_decisions_refit_the_calibration_and_turn_the_order_round(users) -> None:
    ds, bob = make_dataset(), users["curator"]
    overturned(ds, bob)
    high = judged(make_question(ds, 100, chains=1), 0.9, "pass")
    low = judged(make_question(ds, 101, chains=1), 0.1, "fail")
    priority.refresh(ds, refit_first=False)  # the prior alone: low score first
    assert review.claim_next(bob) == low
    priority.refresh(ds)  # refit on the 40 decisions
    assert ValidatorCalibration.objects.get(validator_version="v1").model["n"] == 40
    assert high.chains.get().queue_priority > low.chains.get().queue_priority
    assert review.claim_next(bob, after=low.pk) == high


def test_the_dashboard_shows_each_versions_reliability_against_curators_and_a_threshold(users, admin_client) -> None:
    ds = make_dataset()
    overturned(ds, users["curator"])
    judged(make_question(ds, 100, chains=1), 0.05, "fail")  # a pending chain of the version
    priority.refresh(ds)
    report = ValidatorCalibration.objects.get(validator_version="v1").report
    assert report["fail"] == {"precision": 0.0, "recall": 0.0, "tp": 0, "fp": 20, "fn": 20}
    assert report["threshold"] is None  # every low score was fine: no "fail at score <= t" reaches 90 %
    page = admin_client.get(reverse("review:dashboard")).content.decode()
    assert 'id="calibration"' in page and "on 40 curator decisions (20 hallucinated)" in page
    assert "precision 0.00 · recall 0.00 (0 caught, 20 false alarms, 20 missed)" in page
    assert page.count("<circle") == len(report["reliability"]) > 0


def test_next_after_a_question_continues_in_priority_order_and_wraps_round(users) -> None:
    ds = make_dataset()
    mid, low, top = (judged(make_question(ds, n), s, lab) for n, s, lab in
                     ((1, 0.5, "uncertain"), (2, 1.0, "pass"), (3, 0.0, "fail")))
    priority.refresh(ds)
    bob = users["curator"]
    assert review.claim_next(bob) == top
    assert review.claim_next(bob, after=top.pk) == mid
    assert review.claim_next(bob, after=mid.pk) == low
    assert review.claim_next(bob, after=low.pk) == top


def test_the_item_page_says_why_a_question_was_served_first(curator_client) -> None:
    ds = make_dataset()
    q = judged(make_question(ds, 1), 0.0, "fail")
    priority.refresh(ds)
    page = curator_client.get(reverse("review:item", args=[q.pk])).content.decode()
    assert "Served first because: few of its sound claims were heard" in page


def test_every_fiftieth_decision_queues_a_refresh_that_a_worker_runs(users, run_worker,
                                                                   django_capture_on_commit_callbacks) -> None:
    ds = make_dataset()
    q = judged(make_question(ds, 1), 0.0, "fail")
    connection = django_rq.get_connection("default")
    connection.delete(f"sightsound:decisions:{ds.pk}")
    for _ in range(priority.REFIT_EVERY - 1):
        priority.note_decision(ds.pk)
    assert django_rq.get_queue("default").count == 0
    with django_capture_on_commit_callbacks(execute=True):  # jobs are queued when the transaction commits
        priority.note_decision(ds.pk)
    assert django_rq.get_queue("default").job_ids == [f"review-priorities-{ds.pk}"]
    run_worker()
    assert q.chains.first().queue_priority > 0.5


def test_decisions_are_counted_over_one_redis_connection(users) -> None:
    """A new Redis client per decision opened a TCP connection, with its handshake, every time: a tenth of a
    decision's CPU."""
    ds = make_dataset()
    connection = django_rq.get_connection("default")
    before = connection.info("stats")["total_connections_received"]
    for _ in range(10):
        priority.note_decision(ds.pk)
    assert connection.info("stats")["total_connections_received"] - before <= 2
    assert int(connection.get(f"sightsound:decisions:{ds.pk}")) % priority.REFIT_EVERY == 10 % priority.REFIT_EVERY


def test_the_decision_counter_follows_the_queue_settings(users, settings, caplog) -> None:
    """The kept client belongs to the configured server: queues pointed elsewhere are asked there, not the old one's."""
    ds = make_dataset()
    connection = django_rq.get_connection("default")
    connection.delete(f"sightsound:decisions:{ds.pk}")
    priority.note_decision(ds.pk)
    live = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {**config, "URL": f"redis://127.0.0.1:{embedded_redis.free_port()}/0"}
                          for name, config in live.items()}
    priority.note_decision(ds.pk)  # nothing listens there: not counted, the decision stands
    assert "not refreshed" in caplog.text
    settings.RQ_QUEUES = live
    priority.note_decision(ds.pk)
    assert int(connection.get(f"sightsound:decisions:{ds.pk}")) == 2


def test_an_admin_sets_the_review_order_and_a_worker_reranks(admin_client, curator_client, run_worker,
                                                             django_capture_on_commit_callbacks) -> None:
    ds = make_dataset()
    judged(make_question(ds, 1), 0.0, "fail")
    url = reverse("review:order", args=[ds.slug])
    assert curator_client.post(url, {"review_order": "fifo"}).status_code == 403
    assert admin_client.post(url, {"review_order": "sideways"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"review_order": "active"})
    assert response.status_code == 302
    run_worker()
    assert Chain.objects.filter(question__dataset=ds).first().queue_priority > 0.5
    page = admin_client.get(ds.get_absolute_url()).content.decode()
    assert "the queue serves <b>likely hallucinations first</b>" in page
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"review_order": "fifo"})
    run_worker()
    assert Dataset.objects.get(pk=ds.pk).review_order == "fifo"
    assert Chain.objects.filter(question__dataset=ds).first().queue_priority == 0.0
