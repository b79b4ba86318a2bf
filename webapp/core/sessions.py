"""Database sessions, read with one prepared statement instead of a query built by the ORM on every request.

Every page reads its session first. Building `Session.objects.get(session_key=..., expire_date__gt=now)` cost
about four times the statement itself (~0.5 ms of CPU against ~0.1 ms, bench/review_cpu.py), the largest fixed cost
of a review request after the user and their groups. Only the read changes: the same table and columns, the same
expiry test, a missing or expired session is an empty one as before; writes, expiry and clearing stay Django's.

    SESSION_ENGINE = "webapp.core.sessions"
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone


class SessionStore(DBStore):
    def _get_session_from_db(self) -> Session | None:
        key = self.session_key  # None when the cookie held no valid key
        if key is not None:
            model = self.model
            connection = connections[router.db_for_read(model)]
            table, qn = model._meta.db_table, connection.ops.quote_name
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {qn('session_data')} FROM {qn(table)} "  # noqa: S608 - names, not input
                               f"WHERE {qn('session_key')} = %s AND {qn('expire_date')} > %s", [key, now])
                row = cursor.fetchone()
            if row is not None:
                return model(session_key=key, session_data=row[0])
        self._session_key = None
        return None
