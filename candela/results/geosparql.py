"""GeoSPARQL's simple-features functions (``geof:sfIntersects``, ``geof:sfWithin``, ...) for pyoxigraph.

pyoxigraph knows no geometry: these are its custom functions, deciding with shapely on
``geo:wktLiteral`` values. A literal may start with its CRS IRI; without one it is CRS84
(longitude, latitude), as GeoSPARQL 1.1 says. EPSG:4326 is latitude first; any other CRS
pyproj knows is transformed to CRS84. Anything else (not a WKT literal, broken WKT, unknown
CRS) makes the function return nothing, which SPARQL treats as an error: the FILTER is false.
"""

import re
from functools import lru_cache

import shapely
from pyoxigraph import Literal, NamedNode
from pyproj import CRS, Transformer

GEO = "http://www.opengis.net/ont/geosparql#"
GEOF = "http://www.opengis.net/def/function/geosparql/"
WKT_LITERAL = NamedNode(GEO + "wktLiteral")
BOOLEAN = NamedNode("http://www.w3.org/2001/XMLSchema#boolean")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_CRS_PREFIX = re.compile(r"\s*<([^>]+)>\s*(.*)", re.DOTALL)

#: The simple-features relations, by their GeoSPARQL function names.
RELATIONS = {
    "sfEquals": shapely.equals,
    "sfDisjoint": shapely.disjoint,
    "sfIntersects": shapely.intersects,
    "sfTouches": shapely.touches,
    "sfCrosses": shapely.crosses,
    "sfWithin": shapely.within,
    "sfContains": shapely.contains,
    "sfOverlaps": shapely.overlaps,
}


def wkt_literal(geometry):
    """A ``geo:wktLiteral`` of a shapely geometry in longitude/latitude (CRS84, stated)."""
    return Literal(f"<{CRS84}> {shapely.to_wkt(geometry, rounding_precision=9, trim=True)}", datatype=WKT_LITERAL)


def parse(term):
    """The shapely geometry (CRS84) of a ``geo:wktLiteral`` term; None when it is not one."""
    if not isinstance(term, Literal) or term.datatype != WKT_LITERAL:
        return None
    text = term.value
    match = _CRS_PREFIX.fullmatch(text)
    crs, wkt = (match.group(1), match.group(2)) if match else (CRS84, text)
    try:
        geometry = shapely.from_wkt(wkt)
        return geometry if crs == CRS84 else shapely.transform(geometry, _to_crs84(crs), interleaved=False)
    except Exception:  # noqa: BLE001 - any unreadable literal is a SPARQL error, not a server error
        return None


@lru_cache(maxsize=64)
def _to_crs84(iri):
    source = CRS.from_user_input(_crs_name(iri))
    # Axis order as the CRS defines it: a WKT literal in EPSG:4326 is written latitude first.
    return Transformer.from_crs(source, CRS.from_user_input("OGC:CRS84"), always_xy=False).transform


def _crs_name(iri):
    """pyproj's name for an OGC CRS IRI (``.../EPSG/0/4326`` → ``EPSG:4326``)."""
    match = re.fullmatch(r"https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]+/(\w+)", iri)
    if not match:
        raise ValueError(f"unknown CRS {iri}")
    return f"{match.group(1)}:{match.group(2)}"


def _relation(test):
    def function(first, second):
        a, b = parse(first), parse(second)
        if a is None or b is None:
            return None
        return Literal("true" if test(a, b) else "false", datatype=BOOLEAN)
    return function


def functions():
    """The custom functions to give pyoxigraph's ``query``: ``{NamedNode: callable}``."""
    return {NamedNode(GEOF + name): _relation(test) for name, test in RELATIONS.items()}
