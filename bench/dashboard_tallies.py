"""The review dashboard at rehearsal size, for an admin and a curator, section by section.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a copy of sightsound_rehearsal_500k> \\
        .venv/bin/python -m bench.dashboard_tallies [--repeat 3] [--replay]

Times GET /review/dashboard/ (median of `--repeat` warm requests after one cold) and each of its sections
(webapp/curation/review/dashboards.py), against the 500 ms target of issue 15 item 4. With `--replay`, the same-run
baseline: inter-curator agreement counted from the rows, every shared chain's history replayed in Python
(dashboards.curator_labels_per_chain, what the page did before counters). Run it on a copy: never on the rehearsal
databases themselves (bench/rehearsal_db.py builds those).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 500.0


def _ms(call: Callable[[], Any], repeat: int) -> float:
    call()  # cold: caches, plans
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--replay", action="store_true", help="also time the replay of every shared chain")
    parser.add_argument("--curator", default="cur5")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    for key, value in {"SECRET_KEY": "bench-only", "DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING",
                       "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"}.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from bench.rehearsal_db import ADMIN
    from webapp.curation.review import dashboards as d

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for who, username in (("admin", ADMIN), ("curator", args.curator)):
        user = User.objects.get(username=username)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)

        def page(client: Client = client) -> None:
            assert client.get("/review/dashboard/").status_code == 200

        sections: dict[str, Callable[[], Any]] = {
            "page": page,
            "progress_by_dataset": lambda u=user: d.progress_by_dataset(u),
            "progress_by_curator": lambda u=user: d.progress_by_curator(u),
            "progress_by_day": lambda u=user: d.progress_by_day(user=u),
            "validator_agreement": d.validator_agreement,
            "curator_agreement": lambda u=user: d.curator_agreement(u),
        }
        for name, call in sections.items():
            ms = _ms(call, args.repeat)
            mark = f"  (target {TARGET_MS:.0f} ms: {'met' if ms < TARGET_MS else 'NOT met'})" if name == "page" else ""
            print(f"{who:8} {name:22} {ms:9.1f} ms{mark}")
    if args.replay:
        print(f"baseline curator_labels_per_chain (replay of the rows) {_ms(d.curator_labels_per_chain, 1):9.1f} ms")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
