#!/usr/bin/env bash
# The first README command: set up, start the embedded services, import the demo, serve on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DEBUG=${DEBUG:-1}
export DJANGO_SETTINGS_MODULE=webapp.settings
VAR=${SIGHTSOUND_VAR:-$PWD/var}
mkdir -p "$VAR"
if [ -z "${SECRET_KEY:-}" ]; then
  SECRET_KEY=$(.venv/bin/python -m webapp.core.secret_files "$VAR/secret_key")  # mode 0600, kept across restarts
  export SECRET_KEY
fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
if [ -z "${REDIS_URL:-}" ]; then
  # The server requires the password kept in $VAR/redis_password (mode 0600); its URL carries it, so owner-only too.
  rm -f "$VAR/redis.url" && install -m 600 /dev/null "$VAR/redis.url"
  .venv/bin/python -m webapp.core.embedded_redis --port "${EMBEDDED_REDIS_PORT:-6390}" --dir "$VAR/redis" \
    --password-file "$VAR/redis_password" > "$VAR/redis.url" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$VAR/redis.url" ] && break; sleep 0.1; done
  export REDIS_URL=$(head -1 "$VAR/redis.url")
  echo "Embedded Redis on 127.0.0.1:${EMBEDDED_REDIS_PORT:-6390} (password in $VAR/redis_password)"
fi
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py rqworker default gpu --with-scheduler > "$VAR/worker.log" 2>&1 &
pids+=($!)
echo "RQ worker for queues default, gpu (log: $VAR/worker.log)"
.venv/bin/python manage.py recover_jobs   # the embedded Redis keeps nothing across restarts
.venv/bin/python manage.py build_tiny_models   # the default teacher/validator/student until real models are set
.venv/bin/python manage.py bootstrap_demo
echo
echo "SightSound Studio: http://127.0.0.1:8000/  (users: admin and curator; passwords in $VAR/admin_password and $VAR/curator_password)"
.venv/bin/python manage.py runserver 127.0.0.1:8000 --noreload
