"""A synthetic windthrow for parcel damage ranking: parcels with known damaged fractions, an
optical change map (UTM, 10 m, clouded over one parcel), a SAR change map (longitude/latitude)
and a land-cover map on a third grid, all small.

Parcels are 296 m x 200 m rectangles in UTM 33N, about 50 m apart, whose edges cut pixels
(3.7 m off the 10 m grid: counting the pixels whose centre is inside would be 1.4 % off).
Damage is a horizontal strip across a parcel, its edges on the optical grid's pixel edges: the
parcel's damaged fraction is the strip's height over 200 m, exactly on the optical map.
Meadows (mown: changed too) fill one parcel and half of another. The SAR map samples the same
changes at its own pixel centres: the truth of any map is its damaged pixels' polygons cut by
the parcel (:func:`true_damaged_m2`).
"""

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import shapely
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from shapely.geometry import box

UTM = "EPSG:32633"
LONLAT = "EPSG:4326"
X0, Y0 = 500000.0, 5600000.0  # bottom left of the optical map, on the central meridian of zone 33
PIXEL = 10.0
WIDTH, HEIGHT = 296.0, 200.0
STEP = 350.0
MARGIN = 23.7  # from a parcel's cell to the parcel: its edges cut pixels
DAMAGED, INTACT = 0.9, 0.1
#: Parcel name → (damaged strip as (bottom, top) above the parcels' bottom edge, land cover).
#: Bottom edge at Y0 + 103.7: a strip [96.3, 116.3] is 20 m = 10 % of the parcel.
PARCELS = {
    "none": (None, "forest"),
    "tenth": ((96.3, 116.3), "forest"),        # 20 m of 200: 10 %
    "half": ((46.3, 146.3), "forest"),          # 100 m: 50 %
    "all": ((-103.7, 296.3), "forest"),         # the whole parcel and beyond
    "clouded": ((56.3, 116.3), "forest"),       # 60 m: 30 %, the optical map clouded over most of it
    "mixed": (None, "half meadow"),              # its right half a meadow, mown: changed
    "meadow": (None, "meadow"),                  # a mown meadow: changed, no forest
}
#: Damaged fractions without a land-cover map (mown meadows count as change there).
FRACTIONS = {"none": 0.0, "tenth": 0.1, "half": 0.5, "all": 1.0, "clouded": 0.3, "mixed": 0.5, "meadow": 1.0}
#: The optical map is NaN (clouds) above this height over the clouded parcel: 33.15 % of it stays seen.
CLOUD_FROM = 170.0 - 103.7
BOTTOM = Y0 + 103.7
COLUMNS = len(PARCELS) * int(STEP / PIXEL)
ROWS = 40
CLASSES = ["forest", "meadow"]
PERIOD = ("2023-08-01T00:00:00Z", "2023-08-20T00:00:00Z")
SAR_DATES = "2023-07-30T05:10:00Z,2023-08-11T05:10:00Z,2023-08-23T05:10:00Z"


@dataclass(frozen=True)
class Scene:
    optical: Path
    sar: Path
    landcover: Path
    parcels: gpd.GeoDataFrame  # in UTM, named, with the attributes rank and status
    outside: gpd.GeoDataFrame  # one parcel far from every map


def parcel_box(index):
    left = X0 + index * STEP + MARGIN
    return box(left, BOTTOM, left + WIDTH, BOTTOM + HEIGHT)


def changed():
    """Where the maps show change, in UTM: the damaged strips (each wider than its parcel) and
    the mown meadows."""
    found = []
    for index, (strip, _) in enumerate(PARCELS.values()):
        if strip:
            left = X0 + index * STEP
            found.append(box(left, BOTTOM + strip[0], left + STEP, BOTTOM + strip[1]))
    return shapely.union_all([*found, meadows()])


def meadows():
    """Where the land cover is meadow, in UTM."""
    found = []
    for index, (_, cover) in enumerate(PARCELS.values()):
        left = X0 + index * STEP
        if cover == "meadow":
            found.append(box(left, Y0, left + STEP, Y0 + ROWS * PIXEL))
        elif cover == "half meadow":
            found.append(box(left + MARGIN + WIDTH / 2, Y0, left + STEP, Y0 + ROWS * PIXEL))
    return shapely.union_all(found)


def write_scene(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    damage = changed()
    optical_transform = from_origin(X0, Y0 + ROWS * PIXEL, PIXEL, PIXEL)
    optical = _sampled(damage, UTM, optical_transform, (ROWS, COLUMNS))
    clouded = list(PARCELS).index("clouded")
    left = X0 + clouded * STEP
    cloud = _sampled(box(left, BOTTOM + CLOUD_FROM, left + STEP, Y0 + ROWS * PIXEL), UTM, optical_transform,
                     (ROWS, COLUMNS)) == DAMAGED
    optical[cloud] = np.nan
    optical_path = _write(folder / "optical_change.tif", optical, UTM, optical_transform,
                          PERIOD_START=PERIOD[0], PERIOD_END=PERIOD[1])
    # The SAR map in longitude/latitude, about 14 m x 17 m pixels, beyond the optical map's edges.
    west, south = Transformer.from_crs(UTM, LONLAT, always_xy=True).transform(X0 - 100, Y0 - 100)
    east, north = Transformer.from_crs(UTM, LONLAT, always_xy=True).transform(X0 + COLUMNS * PIXEL + 100,
                                                                               Y0 + ROWS * PIXEL + 100)
    size = (0.0002, 0.00015)
    sar_shape = (int(np.ceil((north - south) / size[1])), int(np.ceil((east - west) / size[0])))
    sar_transform = from_origin(west, north, *size)
    sar = _sampled(damage, LONLAT, sar_transform, sar_shape)
    sar_path = _write(folder / "sar_change.tif", sar, LONLAT, sar_transform, DATES=SAR_DATES)
    # The land cover on a 20 m grid offset from the optical one.
    cover_transform = from_origin(X0 - 7, Y0 + ROWS * PIXEL + 3, 20, 20)
    cover_shape = (ROWS // 2 + 1, COLUMNS // 2 + 1)
    is_meadow = _sampled(meadows(), UTM, cover_transform, cover_shape) == DAMAGED
    cover = np.where(is_meadow, 2, 1).astype("uint8")
    cover[-1, :] = 0  # a row of no data, below every parcel
    cover_path = folder / "landcover.tif"
    with rasterio.open(cover_path, "w", driver="GTiff", width=cover_shape[1], height=cover_shape[0], count=1,
                       dtype="uint8", nodata=0, crs=UTM, transform=cover_transform) as out:
        out.write(cover, 1)
        out.update_tags(CLASSES='["forest", "meadow"]', CLASS_1="forest", CLASS_2="meadow")
    parcels = gpd.GeoDataFrame({"name": list(PARCELS), "rank": [f"r{i}" for i in range(len(PARCELS))],
                                "status": "private"},
                               geometry=[parcel_box(i) for i in range(len(PARCELS))], crs=UTM)
    outside = gpd.GeoDataFrame({"name": ["far"], "rank": ["r9"], "status": "state"},
                               geometry=[box(X0 + 50_000, Y0, X0 + 50_300, Y0 + 200)], crs=UTM)
    return Scene(optical_path, sar_path, cover_path, parcels, outside)


def _sampled(region, crs, transform, shape):
    """DAMAGED where a pixel's centre (in ``crs``) lies in ``region`` (UTM), else INTACT."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel())
    if crs != UTM:
        xs, ys = Transformer.from_crs(crs, UTM, always_xy=True).transform(xs, ys)
    inside = shapely.contains_xy(region, np.asarray(xs), np.asarray(ys)).reshape(shape)
    return np.where(inside, DAMAGED, INTACT).astype("float32")


def _write(path, values, crs, transform, **tags):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", nodata=np.nan, crs=crs, transform=transform) as out:
        out.write(values, 1)
        out.update_tags(**tags)
    return path


def true_damaged_m2(raster, parcel, threshold=0.5):
    """Geodesic area (m²) of the part of ``parcel`` (UTM) under ``raster``'s pixels at or above
    ``threshold``: the damaged pixels' polygons cut by the parcel, on the WGS 84 ellipsoid."""
    return true_area_m2(raster, parcel, lambda values: np.isfinite(values) & (values >= threshold))


def true_area_m2(raster, parcel, select):
    """Geodesic area (m²) of the part of ``parcel`` (UTM) under the pixels of ``raster`` that
    ``select(values)`` is True for."""
    with rasterio.open(raster) as dataset:
        chosen = select(dataset.read(1))
        shapes = [shapely.geometry.shape(geometry) for geometry, value in
                  rasterio.features.shapes(chosen.astype("uint8"), mask=chosen, transform=dataset.transform)]
        crs = dataset.crs
    if not shapes:
        return 0.0
    cut = shapely.union_all(shapes).intersection(gpd.GeoSeries([parcel], crs=UTM).to_crs(crs).iloc[0])
    lonlat = gpd.GeoSeries([cut], crs=crs).to_crs(LONLAT).iloc[0]
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.orient_polygons(lonlat))[0])
