"""python manage.py import_music_avqa avqa-val.json --videos DIR [--allow-missing-media]"""

from __future__ import annotations

from webapp.catalog.management.commands._import_base import ImportCommand


class Command(ImportCommand):
    help = "Import MUSIC-AVQA (open-vocabulary answers); videos are DIR/<video_id>.mp4."
    source_format = "music_avqa"
    media_option = "--videos"
    default_split = "val"
