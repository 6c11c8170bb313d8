"""Times as the store writes them: timezone-aware UTC, ISO 8601 in manifests."""

from __future__ import annotations

import datetime as _dt


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(value: _dt.datetime | None) -> str | None:
    return value.astimezone(_dt.timezone.utc).isoformat() if value is not None else None


def parse_time(text: str) -> _dt.datetime:
    """Parse an ISO 8601 time; a naive one is taken as UTC."""
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value
