"""python manage.py import_avqa ANNOTATIONS.json --videos DIR [--dataset NAME] [--split train|val|test]"""

from __future__ import annotations

from webapp.catalog.management.commands._import_base import ImportCommand


class Command(ImportCommand):
    help = "Import AVQA annotations; videos are DIR/<video_name>.mp4."
    source_format = "avqa"
    media_option = "--videos"
    media_may_be_missing = False
