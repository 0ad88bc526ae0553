"""Acquisition time of rasters: the ``ACQUISITION_DATE`` tag convention."""

from datetime import datetime, timezone

ACQUISITION_TAG = "ACQUISITION_DATE"


def format_time(when):
    """Format a datetime as the ISO 8601 text stored in ``ACQUISITION_DATE`` (UTC, 'Z')."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def parse_time(text):
    """Parse ISO 8601 text (as written by :func:`format_time`) into an aware UTC datetime."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)
