"""Acquisition time of rasters: the ``ACQUISITION_DATE`` tag convention, TIFF tags, Sentinel-2 names."""

import math
import os
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import rasterio
from rasterio.errors import RasterioIOError

from ..errors import InputError

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


# Sources of an acquisition time, as reported by acquisition_time_and_source().
FROM_TAG = "tag"
FROM_TIFF_DATETIME = "tiff_datetime"
FROM_NAME = "name"
FROM_ORBIT = "orbit"

_DATETIME = re.compile(r"(?<![0-9])([0-9]{8}T[0-9]{6})(?![0-9])")
# Old-style product (V = validity start) and datastrip (S = sensing start) names carry the
# sensing time behind a letter, after a processing time that must not be taken for it.
_SENSING_MARK = re.compile(r"_[VS]([0-9]{8}T[0-9]{6})(?![0-9])")
# Old-style granule (tile) names: S2A_OPER_MSI_L1C_TL_<site>_<processing time>_A<orbit>_T<tile>.
_MGRS = r"[0-9]{2}[C-HJ-NP-X][A-HJ-NP-Z]{2}"
_OLD_TILE = re.compile(r"(S2[A-Z])_OPER_MSI_\w*?_TL_.*?_A([0-9]{6})_T(" + _MGRS + r")(?=$|[_.])")
_TILE = re.compile(r"(?:^|[_.])T(" + _MGRS + r")(?=$|[_.])")

# Each Sentinel-2 unit repeats its ground track every 143 orbits in exactly 10 days.
_ORBIT_SECONDS = 10 * 86400 / 143
_INCLINATION = math.radians(98.5621)
# One real (absolute orbit, tile sensing time, tile) per unit, from published product metadata:
# S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU (this project's ../shared/data/sentinel2),
# S2B_MSIL1C_20201011T000249_N0209_R030_T55HFA, S2C tile 36TVK of 2026-04-30 (R064).
_ORBIT_ANCHORS = {
    "S2A": (38058, "2022-10-05T11:56:49Z", "29UNU"),
    "S2B": (18789, "2020-10-11T00:06:49Z", "55HFA"),
    "S2C": (8614, "2026-04-30T08:49:07Z", "36TVK"),
}
_LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX"


def tile_from_name(name):
    """The MGRS tile (e.g. ``"31UDQ"``) in a Sentinel-2 file or product name, or None."""
    match = _TILE.search(_basename(name))
    return match.group(1) if match else None


def time_from_name(name):
    """The sensing time (aware UTC) in a Sentinel-2 file or product name, or None.

    Compact names (``T30TXQ_20171026T110131_B02.tif``, ``S2A_MSIL2A_20221005T115411_...``)
    give it as their first date-time. Old-style tile names
    (``S2A_OPER_MSI_L1C_TL_MTI__20160120T104345_A003020_T39QZG_B02.tif``) only give the
    processing time, which can be months after sensing; their sensing time is computed from
    the absolute orbit number instead, to within minutes (None for an unknown satellite).
    """
    return _name_time(name)[0]


def acquisition_time(dataset_or_path, name=None, tiff_datetime=True):
    """The acquisition time (aware UTC) of a raster (an open dataset or a path), or None when
    nothing dates it.

    Looks in turn at the ``ACQUISITION_DATE`` tag, the ``TIFFTAG_DATETIME`` tag (unless
    ``tiff_datetime`` is false: TIFF writers often record there when the file was made), and
    the Sentinel file name: ``name`` when given (what the user sent the raster as), then the
    file's own name. A malformed value is passed over. Only the header is read.
    """
    return acquisition_time_and_source(dataset_or_path, name, tiff_datetime)[0]


def acquisition_time_and_source(dataset_or_path, name=None, tiff_datetime=True):
    """Like :func:`acquisition_time`, also saying where the time came from.

    Returns ``(time, source)``, source being ``"tag"``, ``"tiff_datetime"``, ``"name"``
    or ``"orbit"`` (estimated from an old-style name's orbit number); ``(None, None)``.
    """
    if isinstance(dataset_or_path, (str, os.PathLike)):
        try:
            with rasterio.open(dataset_or_path) as dataset:
                return acquisition_time_and_source(dataset, name, tiff_datetime)
        except RasterioIOError:
            shown = name or os.path.basename(os.fspath(dataset_or_path))
            raise InputError(f"{shown} cannot be read as a raster") from None
    tags = dataset_or_path.tags()
    when = tag_time(tags.get(ACQUISITION_TAG))
    if when:
        return when, FROM_TAG
    when = _tiff_time(tags.get("TIFFTAG_DATETIME")) if tiff_datetime else None
    if when:
        return when, FROM_TIFF_DATETIME
    for candidate in ([] if name is None else [name]) + [dataset_or_path.name]:
        when, source = _name_time(candidate)
        if when:
            return when, source
    return None, None


def _name_time(name):
    """``(time, source)`` from a Sentinel-2 name; see :func:`time_from_name`."""
    name = _basename(name)
    match = _SENSING_MARK.search(name)
    if match and (when := _valid_time(match.group(1))):
        return when, FROM_NAME
    match = _OLD_TILE.search(name)
    if match:
        when = _time_from_orbit(match.group(1), int(match.group(2)), match.group(3))
        return (when, FROM_ORBIT) if when else (None, None)
    for match in _DATETIME.finditer(name):
        when = _valid_time(match.group(1))
        if when:
            return when, FROM_NAME
    return None, None


def _basename(name):
    text = str(name)
    if "://" in text:
        # A reference URL: its query or fragment is no part of the file name.
        text = urlsplit(text).path
    return os.path.basename(text.replace("\\", "/"))


def _valid_time(text):
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def tag_time(text):
    """The time in an ``ACQUISITION_DATE`` tag value (see :func:`parse_time`), or None if missing or invalid."""
    if not text or not text.strip():
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def _tiff_time(text):
    # The TIFF 6.0 form; some writers pad it with spaces or a trailing NUL.
    if not text:
        return None
    try:
        when = datetime.strptime(text.strip(" \0"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc)


def _time_from_orbit(satellite, orbit, tile):
    """Sensing time over ``tile`` on absolute ``orbit``, counted from the unit's anchor."""
    if satellite not in _ORBIT_ANCHORS:
        return None
    anchor_orbit, anchor_text, anchor_tile = _ORBIT_ANCHORS[satellite]
    # Time since the ascending node grows with the argument of latitude along the
    # descending (daytime) pass, so tiles at other latitudes are seen minutes apart.
    seconds = (orbit - anchor_orbit) * _ORBIT_SECONDS
    seconds += (_descending_phase(tile) - _descending_phase(anchor_tile)) * _ORBIT_SECONDS
    when = parse_time(anchor_text) + timedelta(seconds=seconds)
    return when.replace(microsecond=0)


def _descending_phase(tile):
    """Fraction of an orbit from the ascending node to the latitude band of ``tile``."""
    band = tile[2]
    latitude = 78.0 if band == "X" else -76.0 + 8 * _LATITUDE_BANDS.index(band)
    ratio = math.sin(math.radians(latitude)) / math.sin(_INCLINATION)
    return (math.pi - math.asin(max(-1.0, min(1.0, ratio)))) / (2 * math.pi)
