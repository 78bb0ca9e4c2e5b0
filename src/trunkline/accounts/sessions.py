"""Ending a user's signed-in sessions at once (database session backend).

Sessions do not record their user in a column, so the live ones are decoded and matched
on `_auth_user_id`. Sessions last 8 hours, which keeps the live set small. Django's own
checks back this up: the auth middleware refuses inactive users, and a session whose
password hash no longer matches is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone


def _session_keys_of(user_ids: set[str]) -> list[str]:
    matches = []
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for session in live.iterator(chunk_size=500):
        # get_decoded() answers {} for a corrupt or tampered session: it belongs to nobody.
        if str(session.get_decoded().get(SESSION_KEY, "")) in user_ids:
            matches.append(session.session_key)
    return matches


def sessions_end_for_users(user_ids: Iterable[str], *, keep_session_key: str | None = None) -> int:
    """Delete every live session of these users except `keep_session_key`. Returns how many."""
    wanted = {str(user_id) for user_id in user_ids}
    if not wanted:
        return 0
    keys = [key for key in _session_keys_of(wanted) if key != keep_session_key]
    deleted, _ = Session.objects.filter(session_key__in=keys).delete()
    return deleted


def sessions_end_for_user(user, *, keep_session_key: str | None = None) -> int:
    return sessions_end_for_users([user.pk], keep_session_key=keep_session_key)
