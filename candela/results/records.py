"""What the results store records: a run, the products it made, and per-parcel observations.

Times are UTC; a naive time is read as UTC (SQLite keeps no time zone).
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

#: Kinds of product a run records.
PRODUCT_KINDS = ("change_map", "landcover", "confidence", "classification_report", "ranking", "quicklook")


def utc(when):
    """``when`` (datetime, date, ISO 8601 text or None) as an aware UTC datetime."""
    if when is None or when == "":
        return None
    if isinstance(when, str):
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    elif isinstance(when, date) and not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def iso(when):
    """ISO 8601 text of a stored time (None stays None)."""
    return None if when is None else utc(when).isoformat().replace("+00:00", "Z")


@dataclass
class Run:
    """One process run: which process and version, which job, what it was given, what it said."""

    process: str
    version: str
    job_id: str | None = None
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    period_start: datetime | None = None
    period_end: datetime | None = None
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self):
        self.period_start, self.period_end, self.created = map(utc, (self.period_start, self.period_end, self.created))


@dataclass
class Product:
    """A product of a run: a change map, a land-cover map, a report, with footprint and dates."""

    kind: str
    name: str
    href: str | None = None
    media_type: str | None = None
    source: str | None = None
    footprint: object = None  # shapely geometry, longitude/latitude
    period_start: datetime | None = None
    period_end: datetime | None = None
    properties: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in PRODUCT_KINDS:
            raise ValueError(f"unknown product kind {self.kind!r}; one of {', '.join(PRODUCT_KINDS)}")
        self.period_start, self.period_end = utc(self.period_start), utc(self.period_end)


@dataclass
class Observation:
    """The damage of one parcel over one period, over its kept land-cover classes.

    ``damaged_fraction`` and the rest are None for a parcel without usable pixels; its
    ``status`` says why.
    """

    parcel: str
    geometry: object  # shapely geometry, longitude/latitude
    status: str
    attributes: dict = field(default_factory=dict)
    classes: tuple = ()
    sources: tuple = ()
    period_start: datetime | None = None
    period_end: datetime | None = None
    area_ha: float | None = None
    kept_ha: float | None = None
    damaged_ha: float | None = None
    damaged_fraction: float | None = None
    score: float | None = None
    rank: int | None = None
    level: str | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        self.period_start, self.period_end = utc(self.period_start), utc(self.period_end)
        self.classes, self.sources = tuple(self.classes), tuple(self.sources)
