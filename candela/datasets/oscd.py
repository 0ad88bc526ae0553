"""The Onera Satellite Change Detection dataset (OSCD): image pairs and change labels.

Layout under ``root`` (``../shared/data/oscd``)::

    images/<city>/imgs_1/*_<band>.tif   date 1, one uint16 GeoTIFF per band (TOA reflectance x 10000)
    images/<city>/imgs_2/*_<band>.tif   date 2
    images/<city>/dates.txt             "date_1: 20161130" / "date_2: 20171107"
    labels/<city>/<city>-cm.tif         1 = no change, 2 = change, on the date-1 10 m grid

The 10 m band B02 of a date gives that date's reference grid. In some cities (abudhabi,
saclay_e, saclay_w) date 2 lies on a different grid from date 1: :func:`read_stack` and
:func:`write_stack` bring it onto the date-1 grid with ``grid_of=1`` (bilinear, from each
file's own georeference).
"""

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import reproject

from ..errors import InputError
from ..rasters import dating
from ..rasters.grid import Grid
from ..safe.sentinel2 import band_name

LABELLED = ("abudhabi", "aguasclaras", "beihai", "bercy", "paris", "rennes", "saclay_e")
UNLABELLED = ("brasilia", "chongqing", "dubai", "lasvegas", "milano", "montpellier", "norcia", "rio",
              "saclay_w", "valencia")
BANDS = ("B02", "B03", "B04", "B08")
#: The band whose grid is a date's reference grid (10 m).
REFERENCE_BAND = "B02"
#: Label values in the ``-cm.tif`` files.
NO_CHANGE, CHANGE = 1, 2


def cities(root, labelled=None):
    """Names of the cities under ``root/images``, sorted; only labelled (or unlabelled) ones on request."""
    folder = Path(root) / "images"
    if not folder.is_dir():
        raise InputError("the OSCD root has no images folder")
    names = sorted(p.name for p in folder.iterdir() if (p / "imgs_1").is_dir())
    if labelled is None:
        return names
    return [name for name in names if _labels_path(root, name).is_file() == bool(labelled)]


def city_folder(root, city):
    """``root/images/<city>``, or InputError for a city the dataset does not have."""
    name = str(city)
    folder = Path(root) / "images" / name
    if not re.fullmatch(r"[a-z_]+", name) or not folder.is_dir():
        known = ", ".join(LABELLED + UNLABELLED)
        raise InputError(f"unknown OSCD city {name[:40]!r} (known: {known})")
    return folder


def dates(root, city):
    """Acquisition times ``(date1, date2)`` of a city, as aware UTC datetimes.

    The day comes from ``dates.txt``; the time of day from the Sentinel-2 name of the
    date's B02 file (see :func:`candela.rasters.dating.time_from_name`; estimated from the orbit, to
    within minutes, for old-style names) when that names the same day, else 00:00 UTC.
    """
    folder = city_folder(root, city)
    try:
        text = (folder / "dates.txt").read_text()
    except OSError:
        raise InputError(f"OSCD city {city!r} has no dates.txt") from None
    days = dict(re.findall(r"date_([12])\s*:\s*([0-9]{8})", text))
    result = []
    for index in (1, 2):
        if str(index) not in days:
            raise InputError(f"dates.txt of OSCD city {city!r} gives no date_{index}")
        try:
            day = datetime.strptime(days[str(index)], "%Y%m%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise InputError(f"dates.txt of OSCD city {city!r} has an invalid date_{index}") from None
        try:
            named = dating.time_from_name(band_path(root, city, index, REFERENCE_BAND).name)
        except InputError:
            named = None
        result.append(named if named is not None and named.date() == day.date() else day)
    return tuple(result)


def band_path(root, city, index, band):
    """The GeoTIFF of ``band`` (e.g. ``"B02"``) of date ``index`` (1 or 2) of ``city``."""
    folder = city_folder(root, city) / f"imgs_{_index(index)}"
    name = band_name(band)
    matches = sorted(folder.glob(f"*_{name}.tif"))
    if len(matches) != 1:
        problem = "no" if not matches else "more than one"
        raise InputError(f"OSCD city {city!r} has {problem} band {name} file for date {index}")
    return matches[0]


def grid(root, city, index=1):
    """``(height, width, transform, crs)`` of the 10 m reference grid of date ``index``."""
    with _open(band_path(root, city, index, REFERENCE_BAND)) as dataset:
        return dataset.height, dataset.width, dataset.transform, dataset.crs


def read_stack(root, city, index, bands=BANDS, grid_of=None):
    """Bands of date ``index`` as a float32 array ``(len(bands), height, width)``, and its profile.

    The array lies on the 10 m grid of date ``grid_of`` (default: ``index`` itself); a band
    on another grid (a 20 or 60 m band, or date 2 brought onto date 1) is resampled
    bilinearly from its own georeference, and pixels it does not cover are NaN.
    The profile has ``height``, ``width``, ``transform``, ``crs``, ``bands`` and ``time``.
    """
    index = _index(index)
    height, width, transform, crs = grid(root, city, _index(grid_of or index))
    names = [band_name(b) for b in bands]
    if not names:
        raise InputError("no bands asked for")
    target = Grid(crs, transform, width, height)
    stack = np.full((len(names), height, width), np.nan, dtype="float32")
    for layer, name in zip(stack, names):
        with _open(band_path(root, city, index, name)) as dataset:
            if Grid.of(dataset).same_as(target):
                layer[:] = dataset.read(1)
            else:
                reproject(rasterio.band(dataset, 1), layer, dst_transform=transform, dst_crs=crs,
                          dst_nodata=np.nan, resampling=Resampling.bilinear)
    profile = {"height": height, "width": width, "transform": transform, "crs": crs, "bands": names,
               "time": dates(root, city)[index - 1]}
    return stack, profile


def write_stack(root, city, index, destination, bands=BANDS, grid_of=None, dtype="uint16"):
    """Write the stack of :func:`read_stack` as one GeoTIFF at ``destination``; return its path.

    See :func:`save_stack` for ``dtype`` and what the file holds.
    """
    _check_dtype(dtype)
    stack, profile = read_stack(root, city, index, bands, grid_of)
    return save_stack(stack, profile, destination, dtype)


def save_stack(stack, profile, destination, dtype="uint16"):
    """Write a stack and profile from :func:`read_stack` as one GeoTIFF at ``destination``; return its path.

    ``dtype`` ``"uint16"`` (reflectance x 10000 rounded, nodata 0, as Jpeg2Tiff writes) or
    ``"float32"`` (nodata NaN). Band descriptions are the band names and the
    ``ACQUISITION_DATE`` tag is the date's acquisition time (see :func:`dates`).
    """
    _check_dtype(dtype)
    if dtype == "uint16":
        nodata = 0
        data = np.where(np.isnan(stack), 0, np.clip(np.rint(stack), 1, 65535)).astype("uint16")
    else:
        nodata = np.nan
        data = stack
    destination = Path(destination)
    options = dict(driver="GTiff", width=profile["width"], height=profile["height"], count=len(data),
                   dtype=dtype, crs=profile["crs"], transform=profile["transform"], nodata=nodata,
                   compress="deflate", predictor=2 if dtype == "uint16" else 3, tiled=True,
                   blockxsize=256, blockysize=256)
    with rasterio.open(destination, "w", **options) as out:
        out.write(data)
        out.descriptions = tuple(profile["bands"])
        out.update_tags(**{dating.ACQUISITION_TAG: dating.format_time(profile["time"])})
    return destination


def read_labels(root, city):
    """The change label of ``city`` as a bool array on the date-1 10 m grid (True = change)."""
    city_folder(root, city)
    path = _labels_path(root, city)
    if not path.is_file():
        raise InputError(f"OSCD city {city!r} has no change labels")
    with _open(path) as dataset:
        values = dataset.read(1)
    found = set(np.unique(values).tolist())
    if not found <= {NO_CHANGE, CHANGE}:
        raise InputError(f"change labels of OSCD city {city!r} hold values other than 1 and 2: {sorted(found)[:5]}")
    return values == CHANGE


def _labels_path(root, city):
    return Path(root) / "labels" / city / f"{city}-cm.tif"


def _check_dtype(dtype):
    if dtype not in ("uint16", "float32"):
        raise InputError(f"dtype must be uint16 or float32, not {str(dtype)[:20]!r}")


def _index(index):
    if index not in (1, 2):
        raise InputError(f"an OSCD date index is 1 or 2, not {str(index)[:20]!r}")
    return int(index)


def _open(path):
    try:
        return rasterio.open(path)
    except RasterioIOError:
        raise InputError(f"{Path(path).name} cannot be read as a raster") from None
