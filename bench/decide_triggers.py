"""What the review tallies' triggers add to a decision, each in a fresh database session as a request has one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of sightsound_rehearsal_50k> \\
        .venv/bin/python -m bench.decide_triggers [--n 20]

Times `decide` (webapp/curation/review/decisions.py) on chains nobody reviewed yet and, by a second curator, on
chains one curator decided (the chain becomes shared: agreement_tallies.py recounts its labels), each in its own
connection, rolled back; against the same decision with the tallies' triggers dropped in that transaction (the
same-run baseline). Run it on a copy: it drops triggers inside transactions it rolls back, nothing else.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from webapp.curation.models import Chain, Review
    from webapp.curation.review import decide, tallies

    overlap_free = Chain.objects.filter(kept=True, question__dataset__review_overlap=1)
    fresh = list(overlap_free.filter(version=0).values_list("pk", flat=True)[:args.n])
    reviewed = list(Review.objects.filter(chain__in=overlap_free.filter(version=1), action="accept")
                    .values_list("chain_id", "curator_id")[:args.n])
    figures: dict[tuple[str, bool], list[float]] = {}
    for label, cases in (("unreviewed", [(pk, None) for pk in fresh]), ("second curator", reviewed)):
        for triggers in (False, True):
            times = []
            for chain_id, first in cases:
                connection.close()  # a request's own session: the trigger functions are planned anew
                user = User.objects.filter(username__startswith="cur").exclude(pk=first).order_by("pk").first()
                chain = Chain.objects.get(pk=chain_id)
                with transaction.atomic():
                    if not triggers:
                        tallies.drop_triggers()
                    t0 = time.perf_counter()
                    decide(user, chain_id, chain.version, "accept")
                    times.append((time.perf_counter() - t0) * 1000)
                    transaction.set_rollback(True)
            figures[label, triggers] = times
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for (label, triggers), times in figures.items():
        print(f"decide, {label:15} {'with' if triggers else 'without'} triggers: median "
              f"{statistics.median(times):6.1f} ms (n={len(times)})")


if __name__ == "__main__":
    main()
