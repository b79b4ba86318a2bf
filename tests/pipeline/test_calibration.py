"""Validator calibration on curator decisions and the active queue's ranking (pipeline/calibration.py, priority.py)."""

from __future__ import annotations

import numpy as np

from bench.active_queue import active, fifo, make_world
from pipeline.calibration import (
    FEATURE_REASONS,
    PRIOR_WEIGHTS,
    TRACK_RECORD_REASON,
    Calibration,
    ChainEvidence,
    against_curators,
    fit,
    reliability,
    threshold_for_precision,
)
from pipeline.priority import question_priority


def test_without_decisions_the_prior_ranks_unsupported_chains_above_supported_ones():
    cal = Calibration()
    p = cal.probability([ChainEvidence(0.0, "fail"), ChainEvidence(1.0, "pass")])
    assert p[0] > 0.5 > p[1]


def test_fit_learns_what_curators_decided_against_the_prior():
    # Curators overturned this validator on exactly the chains it scored high: the fit must turn the prior round.
    evidence = [ChainEvidence(0.9, "pass")] * 100 + [ChainEvidence(0.1, "fail")] * 100
    decided = [True] * 100 + [False] * 100
    cal = fit(evidence, decided)
    high, low = cal.probability([ChainEvidence(0.9, "pass"), ChainEvidence(0.1, "fail")])
    assert high > 0.8 and low < 0.2
    assert cal.n == 200 and cal.positives == 100


def test_a_few_decisions_move_the_prior_only_a_little():
    cal = fit([ChainEvidence(0.9, "pass")], [True])
    assert np.max(np.abs(cal.weights - PRIOR_WEIGHTS)) < 1.0


def test_calibration_round_trips_through_json_and_ignores_another_feature_set():
    cal = fit([ChainEvidence(0.2)] * 5 + [ChainEvidence(0.8)] * 5, [True] * 5 + [False] * 5)
    again = Calibration.from_json(cal.to_json())
    assert np.allclose(again.weights, cal.weights, atol=1e-5) and again.n == 10
    stale = dict(cal.to_json(), features=["score"])
    assert np.allclose(Calibration.from_json(stale).weights, PRIOR_WEIGHTS)


def test_the_reason_names_the_feature_that_makes_a_chain_suspect():
    cal = Calibration()
    reasons = cal.reasons([ChainEvidence(0.9, "pass", disagree=True, agreement=1.0),
                           ChainEvidence(0.0, "fail", agreement=1.0),
                           ChainEvidence(1.0, "pass", agreement=0.25)])
    assert reasons == [FEATURE_REASONS["validators_disagree"], FEATURE_REASONS["low_support"],
                       FEATURE_REASONS["teacher_split"]]


def test_a_version_curators_often_overturn_is_named_as_the_reason_when_no_feature_stands_out():
    cal = fit([ChainEvidence(1.0, "pass", agreement=1.0)] * 200, [True] * 150 + [False] * 50)
    assert cal.reasons([ChainEvidence(1.0, "pass", agreement=1.0)]) == [TRACK_RECORD_REASON]


def test_question_priority_is_the_mean_over_its_chains_with_the_top_chains_reason():
    cal = Calibration()
    chains = [ChainEvidence(1.0, "pass", agreement=1.0), ChainEvidence(0.0, "fail", agreement=1.0)]
    priority = question_priority(cal, chains)
    assert priority.value == float(cal.probability(chains).mean())
    assert priority.reason == FEATURE_REASONS["low_support"]
    assert question_priority(cal, []).value == 0.0


def test_reliability_bins_report_predicted_against_observed():
    bins = reliability([0.05, 0.05, 0.95, 0.95], [False, True, True, True], bins=10)
    assert [(b.n, b.predicted, b.observed) for b in bins] == [(2, 0.05, 0.5), (2, 0.95, 1.0)]


def test_threshold_for_precision_takes_the_most_recall_at_the_target():
    scores = [0.1, 0.2, 0.3, 0.4, 0.9]
    decided = [True, True, False, True, False]
    t, agreement = threshold_for_precision(scores, decided, 0.75)
    assert t == 0.4 and (agreement.precision, agreement.recall) == (0.75, 1.0)
    assert threshold_for_precision([0.5], [False], 0.5) is None
    assert against_curators([True, False], [True, True]).recall == 0.5


def test_the_active_queue_finds_hallucinations_at_least_twice_as_fast_as_fifo():
    world = make_world(np.random.default_rng(7), questions=400, k=4, base_rate=0.2, error=0.2)
    budget = 160  # 10 % of the chains
    caught, calibration, _order = active(world, budget, refit_every=10)
    assert caught >= 2 * fifo(world, budget)
    assert calibration.n == budget
