"""Django settings, all from the environment (see webapp/env.py and the README's table).

Defaults are the single-machine embedded setup: SQLite and a local storage root under ./var, the
embedded Redis on 127.0.0.1:6390 with its password from ./var. Several machines: point DATABASE_URL,
REDIS_URL and MEDIA_ROOT at shared services and storage.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from webapp.core import embedded_redis
from webapp.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_optional_bool,
    env_path,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("SIGHTSOUND_VAR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "django_rq",
    "axes",
    "webapp.core",
    "webapp.catalog",
    "webapp.curation",
    "webapp.training",
]

MIDDLEWARE = [
    "webapp.core.tls_proxy.RedirectLoopGuard",  # before SecurityMiddleware's SSL redirect
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webapp.core.csp.CSPMiddleware",  # django-csp's, the header built once (webapp/core/csp.py)
    "webapp.core.middleware.QueueUnreachableMiddleware",
    "webapp.core.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: it turns a lockout into its response
]

# A Content-Security-Policy for every page: scripts only from our own static files (no inline script anywhere in
# the templates; JSON data goes through json_script), no plugins, no framing, forms post only to us. Styles allow
# inline because wavesurfer.js and Chart.js set them from script. File responses carry their own, stricter,
# sandboxing policy (webapp/core/ranges.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.core.context.roles",
                "webapp.core.context.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'sightsound.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from one address, logins
# for that pair are refused for LOGIN_LOCKOUT_MINUTES (a success before the limit resets the count). Axes needs the
# request at authenticate(): the login form passes it; tests log in with force_login.
# UserBackend: ModelBackend with the per-request user read prepared (webapp/core/auth_backend.py). Sessions store
# the backend's path, so one opened under ModelBackend before this setting changed logs in again once.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "webapp.core.auth_backend.UserBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "webapp.core.login_throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "webapp.core.login_throttle.lockout_response"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:datasets"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "webapp.core.static_storage.CachedUrlStaticFilesStorage"},  # URLs kept per name
}
WHITENOISE_USE_FINDERS = True

# One storage root for media, extracted audio, frames, exports and checkpoints; every worker must see it.
# The database stores paths relative to it. Media is served only through the permission-checked view.
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
# Nothing is served from MEDIA_URL: media goes through the permission-checked /files/ view. (Django's test
# live server serves MEDIA_URL raw, so it must not overlap that view.)
MEDIA_URL = "/unserved-media/"
# Server-side folders an admin may import media from in the upload form (absolute, comma separated).
IMPORT_ROOTS = [Path(p) for p in env_list("IMPORT_ROOTS", [str(MEDIA_ROOT / "incoming")])]
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Annotation imports: an upload is refused as soon as its bytes pass the first; a file with more rows than the
# second is refused before any row lands (AVQA, the largest, has ~57k).
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 500_000, minimum=1)
# A teacher, validation or evaluation run over more questions than this is split into shard jobs of this many
# questions, which any number of workers take at once (webapp/core/shards.py); a smaller run is one job.
RUN_SHARD_QUESTIONS = env_int("RUN_SHARD_QUESTIONS", 2_000, minimum=1)
# The dataset page's split-leakage check runs in the request while every live dataset's questions together are at
# most this many (about 0.2 s here); above, a background job computes it and the page shows the newest report
# (catalog/leakage.py): at AVQA size it takes about half a minute.
LEAK_REPORT_INLINE_QUESTIONS = env_int("LEAK_REPORT_INLINE_QUESTIONS", 10_000, minimum=0)
# Seconds a web request's SQL statement may run on PostgreSQL before the server stops it (0: no limit); workers
# have none (webapp/core/statement_timeout.py).
WEB_STATEMENT_TIMEOUT_S = env_int("WEB_STATEMENT_TIMEOUT_S", 60, minimum=0)

# Extracted tagger model and label embeddings (pipeline.validate.sound_events / claims) are cached here.
os.environ.setdefault("SIGHTSOUND_CACHE", str(VAR_DIR / "cache"))

# Models are a local path or a hub id; the defaults are tiny random checkpoints built locally.
TINY_MODELS_ROOT = env_path("TINY_MODELS_ROOT", VAR_DIR / "models")
TEACHER_MODEL = env_str("TEACHER_MODEL", str(TINY_MODELS_ROOT / "tiny-qwen2_5-vl"))
VALIDATOR_MODEL = env_str("VALIDATOR_MODEL", str(TINY_MODELS_ROOT / "tiny-qwen2-audio"))
STUDENT_MODEL = env_str("STUDENT_MODEL", str(TINY_MODELS_ROOT / "tiny-qwen2-audio"))
# Chain flags (pipeline/flags.py): a correct chain whose answer fewer than this percent of the question's K samples
# gave is a lucky guess.
FLAG_LUCKY_MAX_SUPPORT_PERCENT = env_int("FLAG_LUCKY_MAX_SUPPORT_PERCENT", 50, minimum=0)
# OpenAI-compatible model servers: the environment variables an admin may name as the API key (a form must not be
# able to send SECRET_KEY or DATABASE_URL as a Bearer token), and the host names allowed to resolve to loopback,
# link-local or private addresses (everything else internal is refused by the worker when it sends).
MODEL_SERVER_KEY_ENVS = env_list("MODEL_SERVER_KEY_ENVS", ["OPENAI_API_KEY"])
MODEL_SERVER_PRIVATE_HOSTS = env_list("MODEL_SERVER_PRIVATE_HOSTS", [])

# Media pipeline knobs recorded with each clip.
INGEST_FRAMES = env_int("INGEST_FRAMES", 8, minimum=1)
INGEST_PEAKS_PER_SECOND = env_int("INGEST_PEAKS_PER_SECOND", 100, minimum=1)
INGEST_FRAME_MAX_SIDE = env_int("INGEST_FRAME_MAX_SIDE", 640, minimum=16)

# How long opening a question reserves it for one curator; abandoned leases return to the queue after this.
REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 600, minimum=10)
# The precision against curators that the dashboard's suggested validator threshold reaches (percent).
REVIEW_TARGET_PRECISION = min(env_int("REVIEW_TARGET_PRECISION_PERCENT", 90, minimum=1), 100) / 100

# How a gpu worker runs SFT/GRPO: "auto" runs the stage in its own process on one GPU and under
# `accelerate launch` (one process per GPU) when it sees more than one; "accelerate" always launches (on CPU with
# --cpu, which is how the tests exercise that path); "inprocess" never does. 0 processes = one per CUDA device.
TRAINING_LAUNCHER = env_choice("TRAINING_LAUNCHER", "auto", ("auto", "inprocess", "accelerate"))
TRAINING_NUM_PROCESSES = env_int("TRAINING_NUM_PROCESSES", 0, minimum=0)
# After a cancel, how long a launched stage may take to save its checkpoint and exit before its group is killed.
TRAINING_STOP_GRACE_SECONDS = env_int("TRAINING_STOP_GRACE_SECONDS", 120, minimum=0)

# Unset: the embedded server (scripts/run.sh), with the password it keeps in $SIGHTSOUND_VAR/redis_password, so a
# `manage.py` command run from a shell reaches it too.
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", embedded_redis.DEFAULT_PORT, minimum=1)
REDIS_URL = env_redis_url("REDIS_URL", embedded_redis.stored_url(EMBEDDED_REDIS_PORT, VAR_DIR / "redis_password"))
# Jobs are JSON naming one of the app's jobs with ids, for queues, workers and the dashboard alike: whoever can write
# to Redis must not be able to make a worker unpickle or import anything else (webapp/core/job_policy.py).
_JOB_SERIALIZER = "rq.serializers.JSONSerializer"
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600, "SERIALIZER": _JOB_SERIALIZER},
    "gpu": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 24 * 3600, "SERIALIZER": _JOB_SERIALIZER},
}
# How long Redis keeps finished and failed jobs (RQ's default keeps failures a year: 57k clip jobs pile up). The
# database keeps every outcome; these only bound what the queue dashboard can still show.
JOB_RESULT_TTL = env_int("JOB_RESULT_TTL", 600, minimum=0)
JOB_FAILURE_TTL = env_int("JOB_FAILURE_TTL", 7 * 24 * 3600, minimum=60)
RQ = {"COMMIT_MODE": "on_db_commit", "JOB_CLASS": "webapp.core.job_policy.AppJob",
      "WORKER_CLASS": "webapp.core.job_policy.JSONWorker"}

# True: a TLS proxy in front sets X-Forwarded-Proto; False: no proxy; unset with SECURE_SSL_REDIRECT on: a startup
# warning, and a request a proxy forwarded gets a page saying what to set rather than redirects forever
# (webapp/core/tls_proxy.py).
BEHIND_TLS_PROXY = env_optional_bool("BEHIND_TLS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Database sessions whose per-request read is one prepared statement (webapp/core/sessions.py).
SESSION_ENGINE = "webapp.core.sessions"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
