"""Build the tiny offline Qwen checkpoints the embedded demo and the tests point at (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from pipeline.tiny import build_all


class Command(BaseCommand):
    help = "Build tiny random Qwen2 / Qwen2-Audio / Qwen2.5-VL checkpoints offline (skips complete builds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="root folder (default: settings.TINY_MODELS_ROOT)")
        parser.add_argument("--force", action="store_true", help="rebuild even when a complete build exists")

    def handle(self, *args: Any, **opts: Any) -> None:
        root = Path(opts["out"] or settings.TINY_MODELS_ROOT)
        for name, path in build_all(root, force=opts["force"]).items():
            self.stdout.write(f"{name}\t{path}")
