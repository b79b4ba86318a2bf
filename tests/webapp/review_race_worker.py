"""One curator in its own process, for the lease race tests: claim, decide every chain, repeat until empty
(under review overlap: every chain of the question not yet in this curator's own stream).

Run as `python -m tests.webapp.review_race_worker USERNAME START_AT OUT_JSON` with DATABASE_URL naming the test
database; it starts working at the wall-clock time START_AT so all processes race for the same first question.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(username: str, start_at: float, out: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User

    from webapp.curation import review
    from webapp.curation.models import Review

    user = User.objects.get(username=username)
    claimed: list[int] = []
    time.sleep(max(0.0, start_at - time.time()))
    after = None
    while True:
        question = review.claim_next(user, after=after)
        if question is None:
            break
        claimed.append(question.pk)
        overlap = question.dataset.review_overlap
        for chain in review.pending_chains().filter(question=question):
            if overlap == 1:
                review.decide(user, chain.pk, chain.version, "accept")
            elif not Review.objects.filter(chain=chain, curator=user).exists():  # my own stream: version 0
                review.decide(user, chain.pk, 0, "accept")
        after = question.pk
    with open(out, "w") as fh:
        json.dump(claimed, fh)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
