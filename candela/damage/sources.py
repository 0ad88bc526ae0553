"""Change sources: a named change probability map with its weight, and its change period.

A source's statistics go in columns named by its short ``key`` (``opt_mean``, ``sar_dmg_fr``),
at most 3 characters so every column name fits a shapefile's 10. The period a map's change
happened in comes from, in order:

1. an explicit period (``before`` and/or ``after``), which overrides the rest;
2. the tags ``PERIOD_START``/``PERIOD_END`` (ISO 8601) that ChangeDetect and SARChangeDetect
   write;
3. SARChangeDetect's ``DATES`` tag (the dates of its series: the first and the last);
4. else it is unknown (None).

What counts as damaged depends on what a map holds (:func:`map_threshold`): a probability map
(ChangeDetect's) at the run's threshold; a significance map (SARChangeDetect's ``1 - p-value``,
tagged with its test and ``ALPHA``) where its test rejects "no change" at the map's own level,
``1 - p >= 1 - ALPHA``. Under no change a p-value is uniform, so a 0.5 threshold on ``1 - p``
would count half of the undamaged pixels.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError
from ..rasters.dating import format_time, parse_time

#: The sources a ParcelDamage run knows: name → key.
KNOWN = {"optical": "opt", "sar": "sar"}
KEY = re.compile(r"[a-z][a-z0-9]{0,2}")
START_TAG, END_TAG, DATES_TAG = "PERIOD_START", "PERIOD_END", "DATES"
TEST_TAG, ALPHA_TAG = "CHANGE_TEST", "ALPHA"
#: Where a period came from, as the summary says it.
GIVEN, FROM_PERIOD_TAGS, FROM_DATES_TAG = "given", "PERIOD_START/PERIOD_END tags", "DATES tag"


@dataclass(frozen=True)
class ChangeSource:
    """A change probability map (band 1, in [0, 1], NaN no data) to summarise per parcel.

    ``input`` is the input blamed for problems with it (default ``<name>_change``).
    """

    name: str
    path: Path
    key: str = None
    weight: float = 1.0
    input: str = None

    def __post_init__(self):
        object.__setattr__(self, "key", self.key or KNOWN.get(self.name))
        object.__setattr__(self, "input", self.input or f"{self.name}_change")
        if self.key is None or not KEY.fullmatch(self.key):
            raise ValueError(f"source {self.name!r}: its key must be 1 to 3 lowercase letters or digits, "
                             f"got {self.key!r}")

    @property
    def weight_input(self):
        return f"{self.name}_weight"


@dataclass(frozen=True)
class Period:
    """When a change happened: between ``start`` and ``end`` (aware datetimes, either may be
    None), and where that was read (``origin``)."""

    start: datetime = None
    end: datetime = None
    origin: str = None

    def as_json(self):
        return {"start": _text(self.start), "end": _text(self.end), "from": self.origin}


def check_sources(sources):
    """Refuse sources that would share a column or have a negative weight."""
    if not sources:
        raise ValueError("no change source")
    for attribute in ("name", "key"):
        values = [getattr(source, attribute) for source in sources]
        if len(set(values)) != len(values):
            raise ValueError(f"change sources share a {attribute}: {values}")
    for source in sources:
        if not source.weight >= 0:  # NaN too
            raise InputError(f"a weight must be a number, 0 or more; got {source.weight:g}", source.weight_input)
    if not any(source.weight > 0 for source in sources):
        raise InputError("every change map given has weight 0: nothing to combine",
                         sources[0].weight_input)


def map_threshold(tags, threshold):
    """The value from which a pixel of a map with ``tags`` is damaged: ``1 - ALPHA`` for a
    significance map (tagged ``CHANGE_TEST`` and ``ALPHA`` in (0, 0.5]), else ``threshold``."""
    try:
        alpha = float(tags.get(ALPHA_TAG)) if tags.get(TEST_TAG) else None
    except (TypeError, ValueError):
        alpha = None
    return 1.0 - alpha if alpha is not None and 0 < alpha <= 0.5 else threshold


def given_period(before=None, after=None):
    """The period given explicitly (text or datetimes), or None when neither end was given.

    An unreadable date is an InputError naming ``before`` or ``after``, as is an end before
    the start.
    """
    start, end = _date(before, "before"), _date(after, "after")
    if start is None and end is None:
        return None
    if start is not None and end is not None and end < start:
        raise InputError(f"{format_time(end)} is before the start of the period ({format_time(start)})", "after")
    return Period(start, end, GIVEN)


def read_period(tags, given=None):
    """The change period of a map with ``tags``: each end ``given`` sets (see
    :func:`given_period`), the others from the tags, else unknown."""
    found = _tagged(tags)
    if given is None:
        return found
    from_tags = (given.start is None and found.start) or (given.end is None and found.end)
    origin = f"{GIVEN} and {found.origin}" if from_tags else GIVEN
    return Period(given.start or found.start, given.end or found.end, origin)


def overall(periods):
    """One period spanning ``periods`` (the earliest start, the latest end)."""
    starts = [p.start for p in periods if p.start is not None]
    ends = [p.end for p in periods if p.end is not None]
    origins = sorted({part for p in periods if p.origin for part in p.origin.split(" and ")})
    return Period(min(starts, default=None), max(ends, default=None), " and ".join(origins) or None)


def _tagged(tags):
    """The period the tags say, where they say one that reads (a bad tag counts as none)."""
    if tags.get(START_TAG) or tags.get(END_TAG):
        start, end = _tag_time(tags.get(START_TAG)), _tag_time(tags.get(END_TAG))
        if start or end:
            return Period(start, end, FROM_PERIOD_TAGS)
    dates = [when for when in map(_tag_time, str(tags.get(DATES_TAG) or "").split(",")) if when]
    if dates:
        return Period(min(dates), max(dates), FROM_DATES_TAG)
    return Period()


def _tag_time(text):
    if not text or not str(text).strip():
        return None
    try:
        return parse_time(str(text))
    except ValueError:  # a map's tags are metadata: one unreadable leaves the period unknown
        return None


def _date(value, name):
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if value is None or not str(value).strip():
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        raise InputError(f"not a date (yyyy-mm-dd) or ISO 8601 date-time: {str(value)[:30]!r}", name) from None


def _text(when):
    return format_time(when) if when is not None else None
