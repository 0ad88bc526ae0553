"""Products described for the results store: a raster's footprint, dates and what it holds."""

import json

import rasterio
import shapely
from rasterio.warp import transform as transform_xy

from ..pairing.footprints import LONLAT, grid_outline
from ..rasters.dating import acquisition_time
from .records import Product

#: Tags giving a change map's period (ChangeDetect, SARChangeDetect).
PERIOD_TAGS = ("PERIOD_START", "PERIOD_END")


def footprint(dataset):
    """A raster's outline in longitude/latitude (its edges densified, so a reprojected grid's
    curved sides are kept)."""
    ring = grid_outline(dataset.transform, dataset.width, dataset.height)
    xs, ys = zip(*ring)
    if dataset.crs != LONLAT:
        xs, ys = transform_xy(dataset.crs, LONLAT, xs, ys)
    return shapely.make_valid(shapely.Polygon(list(zip(xs, ys))))


def period(dataset, path):
    """``(start, end)`` of a raster: its period tags, else its acquisition time twice, else Nones."""
    tags = dataset.tags()
    start, end = (tags.get(tag) or None for tag in PERIOD_TAGS)
    if start or end:
        return start, end
    when = acquisition_time(dataset, name=str(path), tiff_datetime=False)
    return when, when


def raster_product(path, kind, name, source=None, media_type="image/tiff; application=geotiff", href=None):
    """A :class:`~candela.results.records.Product` for a GeoTIFF: footprint, period and, for a
    classification, its classes."""
    with rasterio.open(path) as dataset:
        start, end = period(dataset, path)
        properties = {"crs": dataset.crs.to_string() if dataset.crs else None, "width": dataset.width,
                      "height": dataset.height}
        classes = dataset.tags().get("CLASSES")
        if classes:
            properties["classes"] = json.loads(classes)
        return Product(kind, name, href=href, media_type=media_type, source=source, footprint=footprint(dataset),
                       period_start=start, period_end=end, properties=properties)
