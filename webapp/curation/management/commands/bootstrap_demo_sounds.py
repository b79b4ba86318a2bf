"""python manage.py bootstrap_demo_sounds: the demo's reviewable content (idempotent).

Imports the clips of `pipeline.demo_sounds` (sounds the tagger recognises) as an MMAU-format dataset, imports their
hand-written chains through the chain import (kind *imported*), and chains a sound-event validation run, so the
review queue opens with real work and verdicts a person can check by ear. The clips are processed here, not on the
worker: with several workers the validation could otherwise start before its clips have audio. A second run changes
nothing: the questions are unchanged, the chains file is already imported, so no new validation is queued.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from pipeline.demo_sounds import (
    AUDIO_DIR,
    CHAINS_NAME,
    FLAG_CHAINS_NAME,
    QUESTIONS_NAME,
    TEST_QUESTIONS_NAME,
    build_demo_sounds,
)

DATASET = "Demo (sounds to check by ear)"


class Command(BaseCommand):
    help = "Import the demo sound clips and their demo chains, and validate the chains with the sound-event tagger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="Where the files are written (VAR_DIR/demo_sounds).")

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.monotonic()
        folder = build_demo_sounds(opts["out"] or settings.VAR_DIR / "demo_sounds")
        for name, split in ((QUESTIONS_NAME, "train"), (TEST_QUESTIONS_NAME, "test")):  # test: a leak to show
            call_command(
                "import_mmau",
                str(folder / name),
                audio=str(folder / AUDIO_DIR),
                dataset=DATASET,
                split=split,
                process_now=True,  # five short clips, under a second: the validation queued next finds their audio
                stdout=self.stdout,
                stderr=self.stderr,
            )
        for name in (CHAINS_NAME, FLAG_CHAINS_NAME):  # the second: chains each flag catches (a run of its own)
            call_command(
                "import_chains",
                str(folder / name),
                dataset=DATASET,
                validate_after="sound-events",
                stdout=self.stdout,
                stderr=self.stderr,
            )
        self.stdout.write(
            f"Demo sounds ready in {time.monotonic() - started:.1f} s (their validation runs on the worker)."
        )
