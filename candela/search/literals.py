"""A :class:`SearchQuery` from the WPS literal parameters, all text; an empty one is not given."""

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from ..errors import InputError
from .area import parse_area
from .query import DEFAULT_LIMIT, SearchQuery

# The parameter that sets a query field, where their names differ.
PARAMETERS = {"min_area_ha": "min_area"}
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")
PERCENT = re.compile(r"(.*?)\s*%")
HECTARES = re.compile(r"(.*?)\s*ha", re.IGNORECASE)


def from_literals(*, classes=None, source=None, after=None, before=None, aoi=None, min_fraction=None,
                  min_area=None, levels=None, order=None, descending=None, limit=None, known_classes=None):
    """The query the literals ask for; an InputError names the parameter at fault.

    ``classes``, ``levels``: comma-separated (``forest,meadow``, ``high,middle``); ``after``,
    ``before``: ISO 8601 dates; ``aoi``: ``minx,miny,maxx,maxy[,crs]`` or WKT (area.py);
    ``min_fraction``: ``0.3``, ``30%`` or ``30 %``; ``min_area``: hectares (``2`` or ``2 ha``);
    ``descending``: true/false, yes/no, 1/0; ``limit``: a whole number. With ``known_classes``,
    classes outside them are refused; without, they simply match nothing.
    """
    texts = dict(classes=classes, source=source, after=after, before=before, aoi=aoi, min_fraction=min_fraction,
                 min_area=min_area, levels=levels, order=order, descending=descending, limit=limit)
    given = {name: str(text).strip() for name, text in texts.items() if text is not None and str(text).strip()}
    fields = {}
    if "classes" in given:
        fields["classes"] = _classes(given["classes"], known_classes)
    for name in ("source", "order"):
        if name in given:
            fields[name] = given[name]
    for name in ("after", "before"):
        if name in given:
            fields[name] = _date(given[name], name)
    if "aoi" in given:
        fields["aoi"] = parse_area(given["aoi"])
    if "min_fraction" in given:
        fields["min_fraction"] = fraction(given["min_fraction"], "min_fraction")
    if "min_area" in given:
        number = HECTARES.fullmatch(given["min_area"])
        fields["min_area_ha"] = _number(number.group(1) if number else given["min_area"], "min_area")
    if "levels" in given:
        fields["levels"] = _items(given["levels"])
    if "descending" in given:
        fields["descending"] = _boolean(given["descending"])
    fields["limit"] = _whole(given["limit"]) if "limit" in given else DEFAULT_LIMIT
    try:
        return SearchQuery(**fields)
    except InputError as error:
        raise InputError(str(error), input=PARAMETERS.get(error.input, error.input)) from None


def fraction(text, name):
    """A fraction from ``0.3``, ``30%`` or ``30 %``: a bare number is a fraction, not a percentage."""
    percent = PERCENT.fullmatch(text.strip())
    if percent:
        value = _number(percent.group(1), name, exact=True)
        if not 0 <= value <= 100:
            raise InputError(f"{text} is not a percentage from 0 to 100", input=name)
        # In decimal, so that 7 % is the float 0.07 exactly as the text reads, not 7 * 0.01.
        return float(value / 100)
    value = _number(text, name)
    if value > 1:
        raise InputError(f"{text} is above 1: a fraction is from 0 to 1; write {text} % for a percentage",
                         input=name)
    return value


def _number(text, name, exact=False):
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{text!r} is not a number", input=name) from None
    if not value.is_finite():
        raise InputError(f"{text!r} is not a finite number", input=name)
    return value if exact else float(value)


def _items(text):
    return tuple(item for item in (part.strip() for part in text.split(",")) if item)


def _classes(text, known):
    names = _items(text)
    if known is not None:
        lookup = {name.casefold() for name in known}
        unknown = [name for name in names if name.casefold() not in lookup]
        if unknown:
            raise InputError(f"unknown class {unknown[0]!r}; the classes are: {', '.join(known)}",
                             input="classes")
    return names


def _date(text, name):
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not an ISO 8601 date (YYYY-MM-DD)", input=name) from None


def _boolean(text):
    if text.casefold() in TRUE:
        return True
    if text.casefold() in FALSE:
        return False
    raise InputError(f"{text!r} is not true or false", input="descending")


def _whole(text):
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a whole number", input="limit") from None

