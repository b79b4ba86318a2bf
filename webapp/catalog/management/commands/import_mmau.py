"""python manage.py import_mmau mmau-test-mini.json --audio DIR [--allow-missing-media]"""

from __future__ import annotations

from webapp.catalog.management.commands._import_base import ImportCommand


class Command(ImportCommand):
    help = "Import MMAU test-mini (audio-only multiple choice); audio resolved under --audio."
    source_format = "mmau"
    media_option = "--audio"
    default_split = "test"
