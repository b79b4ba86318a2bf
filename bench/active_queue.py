"""Active review queue against FIFO: hallucinated chains caught in the first N reviews, on a synthetic dataset.

Every chain has a known label (hallucinated or not, base rate `--base-rate`); a noisy sound-event validator gives it a
score whose pass/fail at 0.5 is wrong `--validator-error` of the time, a second validator (the judge) is wrong as
often, independently, and the teacher's agreement across K is lower on questions whose clips mislead it (where
hallucinations cluster: a question's rate is drawn from a Beta with the base rate as its mean). Curators review a
whole question at a time and reveal its labels. FIFO serves questions in import order; the active queue serves the
highest `pipeline.priority.question_priority`, refitting `pipeline.calibration.fit` on the decisions so far every
`--refit-every` questions — exactly what the app does, minus the database. The ratio is caught(active) /
caught(FIFO) at N = `--review-fraction` of the chains, per seed and overall, beside the oracle's ceiling.

    .venv/bin/python -m bench.active_queue [--seeds 5] [--validator-error 0.2]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from pipeline.calibration import Calibration, ChainEvidence, fit, reliability, threshold_for_precision
from pipeline.priority import question_priority


@dataclass
class World:
    hallucinated: np.ndarray  # (questions, k) bool
    evidence: list[list[ChainEvidence]]  # per question, per chain


def make_world(rng: np.random.Generator, questions: int, k: int, base_rate: float, error: float,
               concentration: float = 2.0) -> World:
    rate = rng.beta(base_rate * concentration, (1 - base_rate) * concentration, size=questions)
    h = rng.random((questions, k)) < rate[:, None]
    sigma = 0.15 / NormalDist().inv_cdf(1 - error)  # P(score on the wrong side of 0.5) = error
    score = np.clip(rng.normal(np.where(h, 0.35, 0.65), sigma), 0.0, 1.0)
    judge_says_fail = h ^ (rng.random((questions, k)) < error)
    agreement = np.clip(1.0 - rate + rng.normal(0.0, 0.15, size=questions), 0.25, 1.0)
    evidence = []
    for q in range(questions):
        row = []
        for j in range(k):
            s = float(score[q, j])
            label = "fail" if s < 0.45 else "uncertain" if s < 0.55 else "pass"
            row.append(ChainEvidence(score=s, label=label, disagree=bool(judge_says_fail[q, j]) != (s < 0.5),
                                     agreement=float(agreement[q])))
        evidence.append(row)
    return World(h, evidence)


def fifo(world: World, budget: int) -> int:
    caught = reviewed = 0
    for q in range(len(world.evidence)):
        if reviewed >= budget:
            break
        caught += int(world.hallucinated[q].sum())
        reviewed += world.hallucinated.shape[1]
    return caught


def active(world: World, budget: int, refit_every: int) -> tuple[int, Calibration, list[int]]:
    calibration = Calibration()
    open_questions = set(range(len(world.evidence)))
    order: list[int] = []
    caught = reviewed = 0
    while reviewed < budget and open_questions:
        ranked = sorted(open_questions, key=lambda q: -question_priority(calibration, world.evidence[q]).value)
        for q in ranked[:refit_every]:
            if reviewed >= budget:
                break
            open_questions.discard(q)
            order.append(q)
            caught += int(world.hallucinated[q].sum())
            reviewed += world.hallucinated.shape[1]
        seen = [e for q in order for e in world.evidence[q]]
        calibration = fit(seen, [bool(x) for q in order for x in world.hallucinated[q]])
    return caught, calibration, order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--k", type=int, default=4, help="chains per question")
    parser.add_argument("--base-rate", type=float, default=0.2)
    parser.add_argument("--validator-error", type=float, default=0.2)
    parser.add_argument("--review-fraction", type=float, default=0.1)
    parser.add_argument("--refit-every", type=int, default=20, help="questions reviewed between refits")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    chains = args.questions * args.k
    budget = int(round(args.review_fraction * chains))
    print(f"{args.questions} questions x {args.k} chains = {chains} chains; base rate {args.base_rate:.0%}; "
          f"validator right {1 - args.validator_error:.0%}; first N = {budget} reviews ({args.review_fraction:.0%})")
    totals = {"fifo": 0, "active": 0, "oracle": 0, "hallucinated": 0}
    last = None
    for seed in range(args.seeds):
        world = make_world(np.random.default_rng(seed), args.questions, args.k, args.base_rate, args.validator_error)
        f = fifo(world, budget)
        a, calibration, order = active(world, budget, args.refit_every)
        per_question = np.sort(world.hallucinated.sum(axis=1))[::-1]
        oracle = int(per_question[: budget // args.k].sum())
        print(f"seed {seed}: hallucinated {int(world.hallucinated.sum())}; caught in the first {budget}: "
              f"FIFO {f}, active {a}, oracle {oracle}; active/FIFO = {a / max(f, 1):.2f}x")
        for key, value in (("fifo", f), ("active", a), ("oracle", oracle),
                           ("hallucinated", int(world.hallucinated.sum()))):
            totals[key] += value
        last = (world, calibration, order)
    ratio = totals["active"] / max(totals["fifo"], 1)
    print(f"overall: FIFO {totals['fifo']}, active {totals['active']}, oracle {totals['oracle']} "
          f"of {totals['hallucinated']}: active/FIFO = {ratio:.2f}x (target >= 2x); "
          f"active reaches {totals['active'] / max(totals['oracle'], 1):.0%} of the oracle")
    assert last is not None
    world, calibration, order = last
    seen = [e for q in order for e in world.evidence[q]]
    labels = [bool(x) for q in order for x in world.hallucinated[q]]
    print(f"last seed's calibration after {calibration.n} decisions: weights "
          + ", ".join(f"{w:+.2f}" for w in calibration.weights))
    everyone = [e for row in world.evidence for e in row]
    truth = [bool(x) for x in world.hallucinated.ravel()]
    print("reliability on every chain (predicted -> observed, n):")
    for b in reliability(calibration.probability(everyone), truth):
        print(f"  {b.low:.1f}-{b.high:.1f}: {b.predicted:.2f} -> {b.observed:.2f} (n={b.n})")
    found = threshold_for_precision([e.score or 0.0 for e in seen], labels, 0.8)
    if found:
        print(f"suggested sound-score threshold for precision >= 0.80 on the reviewed chains: fail at <= "
              f"{found[0]:.3f} (precision {found[1].precision:.2f}, recall {found[1].recall:.2f})")


if __name__ == "__main__":
    main()
