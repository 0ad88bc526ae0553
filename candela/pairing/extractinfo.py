"""ExtractInfo: images grouped by place and sorted by acquisition time into consecutive pairs.

:func:`extract_info` takes ``[(name, path), ...]``: GeoTIFFs (or any raster GDAL reads) and
zipped Sentinel-2 SAFE products. Only headers and metadata are read, never pixels. ``name``
is what the user sent the image as; it is the only way an image is named in the result.

Images whose footprints overlap by more than ``min_overlap`` (1 %) of the smaller one are
at the same place; groups are the connected components of that relation, whatever the tile
names say (one place can be imaged from two MGRS tiles). Note that whole adjacent tiles of
one UTM zone overlap by about 9 % and so join one group.

Within a group, images dated within 15 minutes of each other are one *acquisition* (e.g. the
per-band files ``..._B02.tif``, ``..._B03.tif`` of one date, or two tiles of one datatake),
and pairs join consecutive acquisitions, never two bands of one date. A pair is described by
the largest image (most pixels; then first name) of each acquisition: ``before``/``after``
name those, ``overlap`` is their intersection area over the smaller one's area, measured in
a Lambert equal-area projection (not in degrees²), and ``same_grid`` says whether they share
CRS, transform and size (if not, the later one must be resampled onto the earlier one).

The result, ready for ``json.dumps``; times are ISO 8601 UTC, bounds ``[west, south, east,
north]`` in degrees (west > east across the antimeridian)::

    {"groups": [
        {"id": 1,
         "footprint_lonlat": [54.540253, 24.291408, 54.614067, 24.366488],
         "tiles": ["39QZG", "40QBM"],
         "images": [
            {"name": "S2A_OPER_..._T39QZG_B02.tif", "kind": "raster",
             "time": "2016-01-20T07:03:50Z", "time_source": "orbit", "tile": "39QZG",
             "crs": "EPSG:4326", "width": 785, "height": 799,
             "bounds_lonlat": [54.540253, 24.291408, 54.614067, 24.366488]},
            {"name": "T40QBM_20180328T065919_B02.tif", ...}],
         "acquisitions": [
            {"time": "2016-01-20T07:03:50Z", "images": ["S2A_OPER_..._T39QZG_B02.tif"]},
            {"time": "2018-03-28T06:59:19Z", "images": ["T40QBM_20180328T065919_B02.tif"]}],
         "pairs": [
            {"before": "S2A_OPER_..._T39QZG_B02.tif", "after": "T40QBM_20180328T065919_B02.tif",
             "before_date": "2016-01-20T07:03:50Z", "after_date": "2018-03-28T06:59:19Z",
             "days": 797.9969, "overlap": 1.0, "same_grid": false,
             "before_images": ["S2A_OPER_..._T39QZG_B02.tif"],
             "after_images": ["T40QBM_20180328T065919_B02.tif"]}]}],
     "rejected": [{"name": "notes.txt", "reason": "not a raster that can be read, ..."}]}

A group's ``images`` are all its images in time order; each acquisition and each pair names
its own. ``kind`` is ``"raster"`` or ``"sentinel2"`` (a zipped product, described on its 10 m grid);
``time_source`` is where the time came from: ``"tag"`` (ACQUISITION_DATE), ``"tiff_datetime"``,
``"name"``, ``"orbit"`` (computed from an old-style name's orbit number, to within minutes)
or ``"product"`` (the product's metadata). Groups are ordered by their first acquisition.
Inputs that cannot be used (unreadable, not georeferenced, undated) are in ``rejected``.
"""

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from ..errors import InputError
from ..rasters.dating import acquisition_time_and_source, format_time, tile_from_name
from ..rasters.reading import MAX_PIXELS, check_pixels
from ..safe.archive import is_zip
from ..safe.sentinel2 import read_product_info
from .footprints import LONLAT, Footprints, grid_outline, lonlat_bounds

MIN_OVERLAP = 0.01
SAME_ACQUISITION = timedelta(minutes=15)
FROM_PRODUCT = "product"
PRODUCT_RESOLUTION = 10


@dataclass(eq=False)
class Image:
    """What ExtractInfo knows of one input image."""

    name: str
    kind: str
    time: datetime
    time_source: str
    tile: str | None
    crs: CRS
    transform: Affine
    width: int
    height: int
    outline: tuple  # closed footprint ring, in outline_crs
    outline_crs: CRS
    bounds_lonlat: tuple = ()
    order: int = 0

    @property
    def pixels(self):
        return self.width * self.height


def extract_info(items, min_overlap=MIN_OVERLAP, max_pixels=MAX_PIXELS):
    """Group images by place, order them in time and pair consecutive acquisitions.

    ``items`` is ``[(name, path), ...]``. Returns the JSON-ready dict described in this
    module's docstring. Images that cannot be used, rasters of more than ``max_pixels``
    (width x height x bands: no process would take them) among them, are listed in its
    ``rejected`` part with the reason, never dropped silently.
    """
    images, rejected = [], []
    for order, (name, path) in enumerate(items):
        try:
            image = read_image(name, path, max_pixels)
        except InputError as error:
            rejected.append({"name": str(name), "reason": str(error)})
            continue
        image.order = order
        images.append(image)
    footprints = Footprints(images)
    places = [sorted(members, key=_time_order) for members in footprints.groups(min_overlap)]
    places.sort(key=lambda members: _time_order(members[0]))
    groups = [{"id": number, **describe_group(members, footprints)} for number, members in enumerate(places, start=1)]
    return {"groups": groups, "rejected": rejected}


def _time_order(image):
    return (image.time, image.name, image.order)


def read_image(name, path, max_pixels=MAX_PIXELS):
    """An :class:`Image` from a raster file or a zipped Sentinel-2 product (headers only).

    Raises InputError, with a message naming no server path, for anything unusable.
    """
    image = _read_product(name, path) if is_zip(path) else _read_raster(name, path, max_pixels)
    image.bounds_lonlat = lonlat_bounds(image.outline_crs, image.outline)
    return image


def _read_raster(name, path, max_pixels):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as dataset:
                if dataset.crs is None:
                    raise InputError("no coordinate reference system: the image cannot be placed on the ground")
                check_pixels(dataset.width, dataset.height, dataset.count, max_pixels)
                when, source = acquisition_time_and_source(dataset, name)
                crs, transform = dataset.crs, dataset.transform
                width, height = dataset.width, dataset.height
    except RasterioError:
        raise InputError("not a raster that can be read, nor a zipped Sentinel-2 product") from None
    if when is None:
        raise InputError(
            "no acquisition time: no ACQUISITION_DATE or TIFFTAG_DATETIME tag, and no Sentinel-2 date in its name"
        )
    return Image(name=str(name), kind="raster", time=when, time_source=source, tile=tile_from_name(name),
                 crs=crs, transform=transform, width=width, height=height,
                 outline=grid_outline(transform, width, height), outline_crs=crs)


def _read_product(name, path):
    info = read_product_info(path)
    height, width = info.shape(PRODUCT_RESOLUTION)
    return Image(name=str(name), kind="sentinel2", time=info.sensing_time, time_source=FROM_PRODUCT,
                 tile=info.tile_id, crs=info.crs,
                 transform=info.transform(PRODUCT_RESOLUTION), width=width, height=height,
                 outline=tuple(info.footprint.exterior.coords), outline_crs=LONLAT)


def describe_group(members, footprints):
    """The JSON-ready description of one place: its acquisitions in time order and their pairs.

    ``members`` are the place's images already in time order (as :func:`extract_info` sorts them).
    """
    acquisitions = split_acquisitions(members)
    # The largest image speaks for its acquisition: the finest band of a per-band set.
    leads = [min(acquisition, key=_lead_order) for acquisition in acquisitions]
    pairs = []
    for k in range(len(acquisitions) - 1):
        before, after = leads[k], leads[k + 1]
        start, end = acquisitions[k][0].time, acquisitions[k + 1][0].time
        pairs.append({
            "before": before.name,
            "after": after.name,
            "before_date": format_time(start),
            "after_date": format_time(end),
            "days": round((end - start).total_seconds() / 86400, 4),
            "overlap": round(footprints.overlap_of(before, after), 4),
            "same_grid": same_grid(before, after),
            "before_images": [image.name for image in acquisitions[k]],
            "after_images": [image.name for image in acquisitions[k + 1]],
        })
    return {
        "footprint_lonlat": _rounded(_union_bounds([image.bounds_lonlat for image in members])),
        "tiles": sorted({image.tile for image in members if image.tile}),
        "images": [_describe_image(image) for acquisition in acquisitions for image in acquisition],
        "acquisitions": [
            {"time": format_time(acquisition[0].time), "images": [image.name for image in acquisition]}
            for acquisition in acquisitions
        ],
        "pairs": pairs,
    }


def _lead_order(image):
    return (-image.pixels, image.name, image.order)


def split_acquisitions(images):
    """Time-sorted images cut into acquisitions: runs within SAME_ACQUISITION of their first."""
    acquisitions = []
    for image in images:
        if acquisitions and image.time - acquisitions[-1][0].time <= SAME_ACQUISITION:
            acquisitions[-1].append(image)
        else:
            acquisitions.append([image])
    return acquisitions


def same_grid(a, b, tolerance=1e-3):
    """True if two images share CRS, size and transform (corners within ``tolerance`` pixel)."""
    if a.crs != b.crs or (a.width, a.height) != (b.width, b.height):
        return False
    pixel = min(abs(a.transform.a), abs(a.transform.e)) or max(abs(a.transform.b), abs(a.transform.d))
    corners = [(0, 0), (a.width, 0), (a.width, a.height), (0, a.height)]
    return all(
        np.hypot(*np.subtract(a.transform @ corner, b.transform @ corner)) <= tolerance * pixel for corner in corners
    )


def _describe_image(image):
    return {
        "name": image.name,
        "kind": image.kind,
        "time": format_time(image.time),
        "time_source": image.time_source,
        "tile": image.tile,
        "crs": image.crs.to_string(),
        "width": image.width,
        "height": image.height,
        "bounds_lonlat": _rounded(image.bounds_lonlat),
    }


def _union_bounds(bounds):
    wests, souths, easts, norths = zip(*bounds)
    if all(west <= east for west, east in zip(wests, easts)):
        return (min(wests), min(souths), max(easts), max(norths))
    # Across the antimeridian: take the union on longitudes counted from 0 to 360.
    shifted = [(west % 360, east % 360 + (360 if east % 360 < west % 360 else 0)) for west, east in zip(wests, easts)]
    west, east = min(w for w, _ in shifted), max(e for _, e in shifted)
    return ((west + 180) % 360 - 180, min(souths), (east + 180) % 360 - 180, max(norths))


def _rounded(bounds):
    return [round(float(value), 6) for value in bounds]
