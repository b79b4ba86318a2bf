"""SightSound Studio web app: Django project, apps, and the RQ jobs that bridge to `pipeline`."""
