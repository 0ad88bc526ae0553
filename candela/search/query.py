"""What a search for damage observations asks (:class:`SearchQuery`), and what matches it.

An observation is a mapping or an object with these fields; a query reads only those it needs:

- ``geometry``: the parcel, a shapely geometry in EPSG:4326 (x longitude, y latitude);
- ``classes``: the land-cover classes kept, a name or a collection of names;
- ``sources``: the change sources used: ``optical``, ``sar``, ``both``, or a collection of names;
- ``start``, ``end``: the observation period, dates (or ISO 8601 text);
- ``fraction``: the parcel's damaged fraction, 0 to 1; ``area_ha``: its damaged area (ha);
- ``level``: one of :data:`LEVELS`; ``rank``: 1 for the first of the store's ranking.

How a query matches (every criterion given must hold; a missing value never matches):

- ``classes``: the parcel has one of them (case-insensitive); empty means any class.
- ``source``: ``optical`` or ``sar``: that source was used, alone or with the other; ``both``:
  both were; ``any``: no condition.
- ``after`` D: the period could hold damage later than D, i.e. it ends after D (``end > D``):
  damage seen in an image taken on D happened by D. ``before`` D: it starts before D
  (``start < D``). Both: the period overlaps the time between them.
- ``aoi``: the parcel intersects it (a parcel across its edge counts).
- ``min_fraction``, ``min_area_ha``: at least that much (inclusive).
- ``levels``: the observation's level is one of them; empty means any level.

Results come by ``order``: ``damage`` (fraction), ``area`` (``area_ha``), ``date`` (``end``) or
``rank``; ``descending`` left None takes the natural direction: most damaged, largest, newest
first, and rank 1 first.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime

from shapely.geometry.base import BaseGeometry

from ..damage.levels import LEVEL_NAMES as LEVELS  # the damage levels, lowest first
from ..errors import InputError

SOURCES = ("any", "optical", "sar", "both")
ORDERS = ("damage", "area", "date", "rank")
# The direction each order takes when none is asked: the most telling observations first.
NATURAL_DESCENDING = {"damage": True, "area": True, "date": True, "rank": False}
# The observation field each order sorts by.
ORDER_FIELDS = {"damage": "fraction", "area": "area_ha", "date": "end", "rank": "rank"}
DEFAULT_LIMIT = 100
MAX_LIMIT = 10000


@dataclass(frozen=True)
class SearchQuery:
    """A search for damage observations; see the module's docstring for what each field means."""

    classes: tuple = ()
    source: str = "any"
    after: date | None = None
    before: date | None = None
    aoi: BaseGeometry | None = None
    min_fraction: float | None = None
    min_area_ha: float | None = None
    levels: tuple = ()
    order: str = "rank"
    descending: bool | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self):
        # Frozen: the normalised values are set through object.__setattr__.
        set_ = object.__setattr__
        set_(self, "classes", _names(self.classes, "classes"))
        # Levels in LEVELS' order, so that equal queries compare equal.
        levels = {_choice(level, LEVELS, "levels") for level in _names(self.levels, "levels")}
        set_(self, "levels", tuple(level for level in LEVELS if level in levels))
        set_(self, "source", _choice(self.source, SOURCES, "source"))
        set_(self, "order", _choice(self.order, ORDERS, "order"))
        for name in ("after", "before"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise InputError(f"must be a date, not {value!r}", input=name)
        if self.after is not None and self.before is not None and not self.after < self.before:
            raise InputError(f"{self.before} is not later than after ({self.after}): no time lies between",
                             input="before")
        _check_aoi(self.aoi)
        _check_number(self.min_fraction, "min_fraction", 0.0, 1.0)
        _check_number(self.min_area_ha, "min_area_ha", 0.0, math.inf)
        if self.descending is None:
            set_(self, "descending", NATURAL_DESCENDING[self.order])
        elif not isinstance(self.descending, bool):
            raise InputError(f"must be true or false, not {self.descending!r}", input="descending")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise InputError(f"must be a whole number from 1 to {MAX_LIMIT}, not {self.limit!r}", input="limit")

    def matches(self, observation):
        """Whether one observation (a mapping or an object) meets every criterion of the query."""
        get = _getter(observation)
        if self.classes:
            wanted = {name.casefold() for name in self.classes}
            if not wanted & {name.casefold() for name in _as_set(get("classes"))}:
                return False
        if self.source != "any":
            used = _as_set(get("sources"))
            if "both" in used:
                used = {"optical", "sar"}
            needed = {"optical", "sar"} if self.source == "both" else {self.source}
            if not needed <= used:
                return False
        if self.after is not None and not _after(get("end"), self.after):
            return False
        if self.before is not None and not _after(self.before, get("start")):
            return False
        if self.aoi is not None:
            geometry = get("geometry")
            if geometry is None or not self.aoi.intersects(geometry):
                return False
        if not _at_least(get, "fraction", self.min_fraction) or not _at_least(get, "area_ha", self.min_area_ha):
            return False
        if self.levels and (get("level") or "").casefold() not in self.levels:
            return False
        return True

    def select(self, observations):
        """The matching observations in the query's order, at most ``limit``: the in-memory search.

        Equal values keep their given order; observations without a value for the order come last.
        """
        field = ORDER_FIELDS[self.order]
        found = [obs for obs in observations if self.matches(obs)]
        valued = [(_sort_value(_getter(obs)(field)), obs) for obs in found]
        ordered = sorted((pair for pair in valued if pair[0] is not None), key=lambda pair: pair[0],
                         reverse=self.descending)
        ordered += [pair for pair in valued if pair[0] is None]
        return [obs for _, obs in ordered[:self.limit]]

    def describe(self):
        """The query as a phrase of the search grammar (phrase.py), which parses back to it."""
        # Imported here: phrase.py builds on this module, and the grammar's words live there.
        from .phrase import describe
        return describe(self)


def _names(values, name):
    """A tuple of distinct, stripped names from a name or a collection of names."""
    if isinstance(values, str):
        values = (values,)
    names, seen = [], set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"expected names, not {value!r}", input=name)
        value = " ".join(value.split())
        if value.casefold() not in seen:
            seen.add(value.casefold())
            names.append(value)
    return tuple(names)


def _choice(value, choices, name):
    if isinstance(value, str) and " ".join(value.split()).casefold() in choices:
        return " ".join(value.split()).casefold()
    raise InputError(f"{value!r} is not one of {', '.join(choices)}", input=name)


def _check_number(value, name, low, high):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        bounds = f"from {low:g} to {high:g}" if high < math.inf else f"at least {low:g}"
        raise InputError(f"must be a number {bounds}, not {value!r}", input=name)


def _check_aoi(aoi):
    if aoi is None:
        return
    if not isinstance(aoi, BaseGeometry) or aoi.is_empty:
        raise InputError("must be a non-empty geometry", input="aoi")
    minx, miny, maxx, maxy = aoi.bounds
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise InputError("is not in longitude/latitude (EPSG:4326) range", input="aoi")


def _getter(observation):
    """A function reading a field of a mapping or an object; a missing field reads None."""
    if hasattr(observation, "keys"):
        return observation.get
    return lambda name: getattr(observation, name, None)


def _as_set(value):
    if value is None:
        return set()
    if isinstance(value, str):
        value = (value,)
    return {str(item).strip().casefold() for item in value}


def _as_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _after(later, earlier):
    """``later > earlier`` for dates, datetimes or ISO text; False when either is missing."""
    if later is None or earlier is None:
        return False
    return _as_date(later) > _as_date(earlier)


def _at_least(get, field, minimum):
    if minimum is None:
        return True
    value = get(field)
    return value is not None and value >= minimum


def _sort_value(value):
    return _as_date(value) if isinstance(value, (str, datetime)) else value
