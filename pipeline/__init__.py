"""Plain-Python ML pipeline for SightSound Studio; never imports django."""
