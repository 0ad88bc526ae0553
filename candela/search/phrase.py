"""Search phrases: a :class:`SearchQuery` written the way the question is asked.

    forest parcels damaged after 2017-08-01 with more than 30 % damage, most damaged first, top 10

The grammar (words case-insensitive; clauses in any order; classes and levels add up, any other
clause may come once; docs/search-grammar.md has examples)::

    phrase   = { clause | IGNORED } ;
    clause   = classes | levels | source | time | place | amount | order | limit ;
    classes  = CLASS { sep CLASS } ;                    (* a parcel of any of them *)
    levels   = LEVEL { sep LEVEL } ;                    (* any of them *)
    sep      = "," | "and" | "or" ;
    LEVEL    = "very low" | "low" | "middle" | "high" ;
    source   = SOURCE [ ( "and" | "or" ) SOURCE ] ;     (* "optical and sar": both; "or": any *)
    SOURCE   = "optical" | "sar" ;
    time     = ( "after" | "before" | "during" | "in" ) SPAN | "between" SPAN "and" SPAN ;
    SPAN     = YYYY | YYYY-MM | YYYY-MM-DD ;            (* a year, a month, a day *)
    place    = ( "within" | "in" | "inside" | "intersecting" ) ( BBOX | WKT ) ;
    BBOX     = minx,miny,maxx,maxy[,AUTHORITY:CODE] ;   (* the aoi literal, lon/lat by default *)
    WKT      = [ "SRID=" code ";" ] ( "POLYGON" | "MULTIPOLYGON" ) "(...)" ;
    amount   = ATLEAST NUMBER ( "%" | "percent" | "ha" | "hectare" | "hectares" | ) ;
    ATLEAST  = "more than" | "over" | "above" | "at least" | ">" | ">=" | "≥" ;
    order    = ORDER | "by" KEY [ "ascending" | "descending" ] ;
    KEY      = "damage" | "area" | "date" | "rank" ;
    limit    = ( "top" | "limit" | "first" ) WHOLE ;

``CLASS`` is one of ``known_classes`` (several words allowed), or its plural (``forests``,
``dry grasses``); ``ORDER`` is a phrase of :data:`ORDER_PHRASES` (``most damaged first``, ...);
``IGNORED`` are the words of :data:`IGNORED` (``parcels``, ``the``, ``with``, ``,``, ...). Where
two readings start at the same word, the longer wins (a class ``low vegetation`` over the level
``low``), then a keyword over a class.

What the words mean (query.py has the matching rules):

- ``after S``: after the last day of S; ``before S``: before its first day; ``between A and B``:
  A and B included, after the day before A and before the day after B; ``during S`` or ``in S``:
  after the day before S and before the day after it, so a period sharing a day with S
  (``during 2017``: after 2016-12-31 and before 2018-01-01).
- ``30 %`` (or ``30%``, ``30 percent``) is the fraction 0.3; a bare number is a fraction and must
  be at most 1 (``0.3``); ``ha`` makes it a damaged area.
- Every comparison is "at least": ``more than 30 %`` keeps a fraction of exactly 0.3 too.
- ``within``, ``in``, ``inside`` and ``intersecting`` all mean the parcel intersects the area.

:func:`describe` writes a query back as a phrase that parses to the same query.
"""

import calendar
import difflib
import re
from collections import namedtuple
from datetime import date, timedelta
from decimal import Decimal

from shapely.geometry import box

from ..errors import InputError
from .area import parse_area
from .literals import fraction
from .query import DEFAULT_LIMIT, LEVELS, NATURAL_DESCENDING, ORDERS, SearchQuery

SEPARATORS = (",", "and", "or")
SOURCE_WORDS = ("optical", "sar")
SPAN_WORDS = ("after", "before", "during", "in")
PLACE_WORDS = ("within", "in", "inside", "intersecting")
AT_LEAST = (("more", "than"), ("over",), ("above",), ("at", "least"), (">",), (">=",), ("≥",))
PERCENT_WORDS = ("%", "percent")
AREA_WORDS = ("ha", "hectare", "hectares")
DIRECTIONS = {"ascending": False, "descending": True}
LIMIT_WORDS = ("top", "limit", "first")
# The phrase that orders each way; the first for an (order, descending) pair is the one
# describe() writes.
ORDER_PHRASES = {
    "most damaged first": ("damage", True),
    "least damaged first": ("damage", False),
    "largest damaged area first": ("area", True),
    "largest area first": ("area", True),
    "smallest damaged area first": ("area", False),
    "smallest area first": ("area", False),
    "newest first": ("date", True),
    "latest first": ("date", True),
    "most recent first": ("date", True),
    "oldest first": ("date", False),
    "earliest first": ("date", False),
    "best ranked first": ("rank", False),
    "worst ranked first": ("rank", True),
}
# Words that carry no meaning of their own here: the phrase may read as a sentence.
IGNORED = (
    "parcel", "parcels", "observation", "observations", "show", "me", "find", "list", "all", "the", "a",
    "an", "with", "of", "that", "which", "were", "was", "are", "is", "have", "has", "had", "by", "from",
    "using", "seen", "observed", "detected", "damage", "damaged", "area", "and", "or", "sorted", "ordered",
    ",", ";", ".", "!", "?",
)
SIGNS = ("%", ">", ">=", "≥")
KEYWORDS = sorted(
    {word for phrase in LEVELS for word in phrase.split()}
    | {word for phrase in ORDER_PHRASES for word in phrase.split()}
    | {word for words in AT_LEAST for word in words if word.isalpha()}
    | set(SEPARATORS[1:] + SOURCE_WORDS + SPAN_WORDS + PLACE_WORDS + ("between",) + AREA_WORDS
          + PERCENT_WORDS[1:] + tuple(DIRECTIONS) + LIMIT_WORDS + ORDERS)
    | {"by"}
)

Token = namedtuple("Token", "kind text at")  # text: lower case for words; at: 1-based character
TOKEN = re.compile(r"""
    (?P<wkt>(?:SRID\s*=\s*\d+\s*;\s*)?(?:MULTI)?POLYGON\b)
  | (?P<bbox>-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){3}(?:\s*,\s*[A-Za-z]+:\d+)?)
  | (?P<date>\d{4}-\d{2}(?:-\d{2})?)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<word>>=|≥|>|%|[,;.!?]|[^\W\d_]+(?:['-][^\W\d_]+)*)
  | (?P<space>\s+)
""", re.VERBOSE | re.IGNORECASE)
# What comes before a token of each kind, for the error on one out of place.
FOLLOWS = {
    "wkt": "an area follows within, in, inside or intersecting",
    "bbox": "an area follows within, in, inside or intersecting",
    "date": "a date follows after, before, between, during or in",
    "number": "a number follows more than, over, above, at least, >, >= (then %, ha or nothing), top, "
              "limit or first",
}
Match = namedtuple("Match", "end fields")


def parse(text, known_classes=()):
    """The query ``text`` asks for, with the land-cover classes ``known_classes`` (the store's).

    An InputError (naming the input ``phrase``) says which word does not fit, where, and the
    words that would.
    """
    parser = _Parser(tokenize(text), known_classes)
    fields = parser.parse()
    try:
        return SearchQuery(**fields)
    except InputError as error:
        raise InputError(f"{error.input} {error}", input="phrase") from None


def tokenize(text):
    """The phrase's tokens: words, numbers, dates, rectangles, WKT polygons, signs."""
    tokens, at = [], 0
    while at < len(text):
        found = TOKEN.match(text, at)
        if not found:
            raise InputError(f"unexpected character {text[at]!r} at character {at + 1}", input="phrase")
        kind, end = found.lastgroup, found.end()
        if kind == "wkt":
            end = _closing(text, end, at)
        if kind != "space":
            token = text[at:end]
            tokens.append(Token(kind, token.casefold() if kind == "word" else token, at + 1))
        at = end
    return tokens


def describe(query):
    """The phrase for ``query``: parse(describe(query), query.classes) == query."""
    levels = [" or ".join(query.levels) + " damage"] if query.levels else []
    classes = [" or ".join(query.classes)] if query.classes else []
    words = [" ".join(levels + classes + ["parcels"])]
    # One verb: "seen by optical before 2018-01-01", "damaged before 2018-01-01".
    sources = "optical and sar" if query.source == "both" else query.source
    verb = [] if query.source == "any" else [f"seen by {sources}"]
    if query.after or query.before:
        words.append(" ".join((verb or ["damaged"]) + [_describe_time(query.after, query.before)]))
    else:
        words += verb
    if query.min_fraction is not None:
        percent = Decimal(repr(query.min_fraction)) * 100
        words.append(f"with at least {_decimal(percent)} % damage")
    if query.min_area_ha is not None:
        words.append(f"with at least {_decimal(Decimal(repr(query.min_area_ha)))} ha damaged")
    if query.aoi is not None:
        words.append("within " + _describe_area(query.aoi))
    clauses = [" ".join(words)]
    if (query.order, query.descending) != ("rank", NATURAL_DESCENDING["rank"]):
        clauses.append(next(phrase for phrase, way in ORDER_PHRASES.items()
                            if way == (query.order, query.descending)))
    if query.limit != DEFAULT_LIMIT:
        clauses.append(f"top {query.limit}")
    return ", ".join(clauses)


class _Expected(Exception):
    """A clause's keyword whose words after it do not fit; raised only if nothing else reads them."""


class _Parser:
    def __init__(self, tokens, known_classes):
        self.tokens = tokens
        self.known = tuple(known_classes)
        self.classes = _class_forms(self.known)
        self.longest_class = max((len(form) for form in self.classes), default=0)
        # The longest reading wins; at a tie, the first rule here: keywords before classes.
        self.rules = (self._levels, self._source, self._time, self._place, self._amount, self._order,
                      self._limit, self._classes)

    def parse(self):
        fields, set_at, at = {}, {}, 0
        while at < len(self.tokens):
            match, expected = None, None
            for rule in self.rules:
                try:
                    found = rule(at)
                except _Expected as error:
                    expected = expected or error
                    continue
                if found and (match is None or found.end > match.end):
                    match = found
            if match is None:
                if expected is None and self._word(at) in IGNORED:
                    at += 1
                    continue
                raise InputError(str(expected) if expected else self._unknown(at), input="phrase")
            for name, value in match.fields.items():
                if name in ("classes", "levels"):
                    fields[name] = fields.get(name, ()) + value
                elif name in fields:
                    raise InputError(f"{self._quote(at, match.end)} at character {self.tokens[at].at} sets "
                                     f"{name} again (first set at character {set_at[name]})", input="phrase")
                else:
                    fields[name], set_at[name] = value, self.tokens[at].at
            at = match.end
        return fields

    # The rules: each reads a clause starting at token ``at`` into a Match, or returns None.

    def _classes(self, at):
        return self._list(at, self._class_at, "classes")

    def _levels(self, at):
        return self._list(at, self._level_at, "levels")

    def _source(self, at):
        if self._word(at) not in SOURCE_WORDS:
            return None
        first = self._word(at)
        if self._word(at + 1) in ("and", "or") and self._word(at + 2) in SOURCE_WORDS:
            if self._word(at + 2) != first:
                return Match(at + 3, {"source": "both" if self._word(at + 1) == "and" else "any"})
            return Match(at + 3, {"source": first})
        return Match(at + 1, {"source": first})

    def _time(self, at):
        word = self._word(at)
        if word == "between":
            first = self._span(at + 1, "between")
            if self._word(at + 2) != "and":
                raise _Expected(f"expected 'and' after {self._quote(at, at + 2)}, {self._instead(at + 2)}")
            last = self._span(at + 3, "between ... and")
            # Both ends included, as a forester means "between July and September".
            return Match(at + 4, {"after": first[0] - timedelta(days=1), "before": last[1] + timedelta(days=1)})
        if word not in SPAN_WORDS:
            return None
        if word == "in" and self._kind(at + 1) in ("bbox", "wkt"):
            return None  # a place
        first, last = self._span(at + 1, word)
        if word == "after":
            return Match(at + 2, {"after": last})
        if word == "before":
            return Match(at + 2, {"before": first})
        return Match(at + 2, {"after": first - timedelta(days=1), "before": last + timedelta(days=1)})

    def _place(self, at):
        if self._word(at) not in PLACE_WORDS:
            return None
        if self._kind(at + 1) not in ("bbox", "wkt"):
            if self._word(at) == "in":
                return None  # a time, or nothing: _time says what is expected
            raise _Expected(f"expected minx,miny,maxx,maxy or a WKT polygon after '{self._word(at)}', "
                            f"{self._instead(at + 1)}")
        token = self.tokens[at + 1]
        try:
            return Match(at + 2, {"aoi": parse_area(token.text)})
        except InputError as error:
            raise _Expected(f"the area at character {token.at}: {error}") from None

    def _amount(self, at):
        comparison = next((words for words in AT_LEAST if self._words(at, words)), None)
        if comparison is None:
            return None
        number = at + len(comparison)
        if self._kind(number) != "number":
            raise _Expected(f"expected a number after {self._quote(at, number)}, {self._instead(number)}")
        text, unit = self.tokens[number].text, self._word(number + 1)
        try:
            if unit in AREA_WORDS:
                return Match(number + 2, {"min_area_ha": float(text)})
            if unit in PERCENT_WORDS:
                return Match(number + 2, {"min_fraction": fraction(text + " %", "phrase")})
            return Match(number + 1, {"min_fraction": fraction(text, "phrase")})
        except InputError as error:
            raise _Expected(f"{error} (at character {self.tokens[number].at})") from None

    def _order(self, at):
        if self._word(at) == "by" and self._word(at + 1) in ORDERS:
            order = self._word(at + 1)
            if self._word(at + 2) in DIRECTIONS:
                return Match(at + 3, {"order": order, "descending": DIRECTIONS[self._word(at + 2)]})
            return Match(at + 2, {"order": order})
        for phrase, (order, descending) in ORDER_PHRASES.items():
            if self._words(at, phrase.split()):
                return Match(at + len(phrase.split()), {"order": order, "descending": descending})
        return None

    def _limit(self, at):
        if self._word(at) not in LIMIT_WORDS:
            return None
        if self._kind(at + 1) != "number" or not self.tokens[at + 1].text.isdigit():
            if self._word(at) == "first":
                return None  # "newest first" lost its first word, more likely: "does not fit here"
            raise _Expected(f"expected a whole number after '{self._word(at)}', {self._instead(at + 1)}")
        return Match(at + 2, {"limit": int(self.tokens[at + 1].text)})

    # Helpers.

    def _list(self, at, item_at, name):
        """``item { sep item }`` as a Match of the items' tuple."""
        item = item_at(at)
        if item is None:
            return None
        items, end = [item[0]], item[1]
        while self._word(end) in SEPARATORS and (following := item_at(end + 1)):
            items.append(following[0])
            end = following[1]
        return Match(end, {name: tuple(items)})

    def _class_at(self, at):
        for length in range(min(self.longest_class, len(self.tokens) - at), 0, -1):
            words = tuple(token.text.casefold() for token in self.tokens[at:at + length])
            if words in self.classes:
                return self.classes[words], at + length
        return None

    def _level_at(self, at):
        for level in sorted(LEVELS, key=len, reverse=True):
            if self._words(at, level.split()):
                return level, at + len(level.split())
        return None

    def _span(self, at, keyword):
        """The first and last day of the year, month or day at ``at``."""
        token = self.tokens[at] if at < len(self.tokens) else None
        if token is None or not (token.kind == "date" or token.kind == "number" and re.fullmatch(r"\d{4}", token.text)):
            area = " or an area" if keyword == "in" else ""
            raise _Expected(f"expected a year (YYYY), month (YYYY-MM) or day (YYYY-MM-DD){area} after '{keyword}', "
                            f"{self._instead(at)}")
        try:
            return span(token.text)
        except ValueError:
            raise _Expected(f"{token.text!r} at character {token.at} is not a date") from None

    def _word(self, at):
        return self.tokens[at].text if at < len(self.tokens) and self.tokens[at].kind == "word" else None

    def _kind(self, at):
        return self.tokens[at].kind if at < len(self.tokens) else None

    def _words(self, at, words):
        return all(self._word(at + offset) == word for offset, word in enumerate(words))

    def _instead(self, at):
        """What came instead of what was expected at ``at``."""
        if at >= len(self.tokens):
            return "at the end of the phrase"
        return f"not {self.tokens[at].text!r} (character {self.tokens[at].at})"

    def _quote(self, start, end):
        return repr(" ".join(token.text for token in self.tokens[start:end]))

    def _unknown(self, at):
        token = self.tokens[at]
        if token.kind in FOLLOWS:
            return f"{token.text!r} at character {token.at} does not fit here: {FOLLOWS[token.kind]}"
        classes = sorted(self.known, key=str.casefold)
        class_words = {word for name in classes for word in name.casefold().split()}
        if token.text in KEYWORDS or token.text in SIGNS or token.text in class_words:
            return f"'{token.text}' at character {token.at} does not fit here"
        close = difflib.get_close_matches(token.text, KEYWORDS + [name.casefold() for name in classes], n=1)
        return (f"unknown word '{token.text}' at character {token.at}"
                + (f" (did you mean '{close[0]}'?)" if close else "")
                + f"; the words are: {', '.join(KEYWORDS)}"
                + f"; the classes: {', '.join(classes) if classes else 'none known'}"
                + f"; and these are ignored: {' '.join(IGNORED)}")


def span(text):
    """The first and last day of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    parts = [int(part) for part in text.split("-")]
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    if len(parts) == 2:
        return date(*parts, 1), date(*parts, calendar.monthrange(*parts)[1])
    return date(*parts), date(*parts)


def _class_forms(known):
    """Every way to write a known class, as a tuple of lower-case words, to its name."""
    forms = {}
    for name in known:
        words = tuple(name.casefold().split())
        if words:
            forms[words] = name
            for plural in ("s", "es"):
                forms.setdefault(words[:-1] + (words[-1] + plural,), name)
    return forms


def _closing(text, end, start):
    """The end of the WKT that starts at ``start`` with its keyword ending at ``end``."""
    rest = re.compile(r"\s*(?:[ZM]{1,2}\s*)?\(", re.IGNORECASE).match(text, end)
    if not rest:
        raise InputError(f"expected '(' after the WKT keyword at character {start + 1}", input="phrase")
    depth = 0
    for at in range(rest.end() - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[at], 0)
        if depth == 0:
            return at + 1
    raise InputError(f"the WKT at character {start + 1} has a '(' never closed", input="phrase")


def _describe_time(after, before):
    if after and before:
        first, last = after + timedelta(days=1), before - timedelta(days=1)
        for text in (f"{first:%Y}", f"{first:%Y-%m}", f"{first}"):
            if span(text) == (first, last):
                return f"during {text}"
        return f"between {first} and {last}"
    return f"after {after}" if after else f"before {before}"


def _describe_area(aoi):
    if aoi == box(*aoi.bounds):
        # Exactly the rectangle parse_area makes of the literal: written as that literal.
        return ",".join(_decimal(Decimal(repr(float(value)))) for value in aoi.bounds)
    return _wkt(aoi)


def _wkt(geometry):
    """WKT with every coordinate's shortest exact decimal, so that it reads back to the same floats."""
    def rings(polygon):
        return "(" + ", ".join("(" + ", ".join(f"{x!r} {y!r}" for x, y, *_ in ring.coords) + ")"
                               for ring in (polygon.exterior, *polygon.interiors)) + ")"
    if geometry.geom_type == "Polygon":
        return "POLYGON " + rings(geometry)
    return "MULTIPOLYGON (" + ", ".join(rings(polygon) for polygon in geometry.geoms) + ")"


def _decimal(value):
    """A Decimal in plain notation, without trailing zeros (2, 30, 0.00001)."""
    return format(value.normalize(), "f")
