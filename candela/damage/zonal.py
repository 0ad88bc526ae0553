"""Per-parcel statistics of one raster, with exactextract: pixels weighed by the exact fraction
of them each parcel covers, areas in m² on the ground.

exactextract weighs a pixel by its covered fraction times, with ``coverage_weight``, its area:
``area_cartesian`` (x resolution × y resolution, in the CRS's units²) on a projected grid,
``area_spherical_m2`` (the cell's area on a sphere of radius 6378137 m) on a geographic one.
Neither is the area on the ground: a UTM grid's areas are off by the square of its scale
factor (-0.08 % on the central meridian to about +0.2 % at a zone's edge), Web Mercator's by
1/cos²(latitude), the sphere's by up to ±0.7 % against the ellipsoid. So each parcel's
measures are multiplied by its *ground scale*: its geodesic area over its area as exactextract
measures it (planar in the raster's CRS, or on that sphere), which is exact where the scale is
constant over a parcel.
"""

import geopandas
import numpy as np
import shapely
from exactextract import exact_extract
from exactextract.raster import RasterioRasterSource
from pyproj import Geod

from .parcels import geodesic_areas

#: The sphere exactextract's ``area_spherical_m2`` measures cells on.
EXACTEXTRACT_SPHERE = Geod(a=6378137.0, b=6378137.0)


def area_weight(crs):
    """exactextract's ``coverage_weight`` giving each pixel's covered area on a grid in ``crs``."""
    return "area_spherical_m2" if crs.is_geographic else "area_cartesian"


def ground_scale(geometries, ground_m2, crs):
    """m² on the ground per unit of area exactextract measures, per parcel (``geometries`` in
    the raster's ``crs``; ``ground_m2`` their geodesic areas); NaN where a parcel measures 0."""
    if crs.is_geographic:
        measured = geodesic_areas(geometries, EXACTEXTRACT_SPHERE)
    else:
        measured = shapely.area(np.asarray(geometries))
    measured = np.asarray(measured, dtype=float)
    scale = np.full(len(measured), np.nan)
    np.divide(ground_m2, measured, out=scale, where=np.isfinite(measured) & (measured > 0))
    return scale


def change_statistics(dataset, geometries, ground_m2, threshold, progress=None):
    """Statistics of band 1 of the open change map ``dataset`` in each parcel (``geometries``,
    a GeoSeries in the raster's CRS), one row per parcel in order:

    - ``valid_m2``: area of the pixels with a value (not NaN, not nodata);
    - ``covered_m2``: area of the parcel inside the raster, values or not;
    - ``mean``: the values' area-weighted mean;
    - ``p50``, ``p90``: their median and 90th percentile, weighted by coverage (:func:`_quantile`);
    - ``damaged``: the fraction of ``valid_m2`` whose value is at least ``threshold``;
    - ``min``, ``max``: the extreme values (to check they are probabilities).
    """
    weight = area_weight(dataset.crs)
    found = _extract(dataset, geometries, [
        f"valid=count(coverage_weight={weight})", f"covered=count(default_value=0,coverage_weight={weight})",
        f"mean(coverage_weight={weight})", _quantile(0.5, "p50"), _quantile(0.9, "p90"), _damaged(threshold),
        "min", "max"], progress)
    scale = ground_scale(geometries, ground_m2, dataset.crs)
    return found.assign(
        valid_m2=np.nan_to_num(found["valid"] * scale), covered_m2=np.nan_to_num(found["covered"] * scale),
    ).drop(columns=["valid", "covered"])


def class_areas(dataset, geometries, ground_m2, progress=None):
    """Area in m² of each class of the land-cover map ``dataset`` in each parcel (``geometries``
    in the map's CRS): ``[{value: m2}, ...]`` in parcel order (its nodata value left out)."""
    weight = area_weight(dataset.crs)
    found = _extract(dataset, geometries, ["unique", f"frac(coverage_weight={weight})",
                                           f"count(coverage_weight={weight})"], progress)
    scale = np.nan_to_num(ground_scale(geometries, ground_m2, dataset.crs))
    return [{int(value): float(fraction) * area * factor for value, fraction in zip(values, fractions)}
            for values, fractions, area, factor in zip(found["unique"], found["frac"], found["count"], scale)]


def _valid(values):
    """The pixels of exactextract's masked ``values`` that hold a value (not nodata, not NaN)."""
    return ~np.ma.getmaskarray(values) & np.isfinite(np.ma.getdata(values))


def _damaged(threshold):
    """An exactextract operation: the fraction of the valid covered pixels at or above
    ``threshold``, weighed by coverage."""
    def damaged(values, coverage):
        # Coverage fractions only: a custom operation gets no cell areas. Cell areas vary with
        # latitude alone on a geographic grid, by far less than 0.1 % across a parcel.
        valid = _valid(values)
        total = float(coverage[valid].sum())
        return float(coverage[valid & (np.ma.getdata(values) >= threshold)].sum()) / total if total > 0 else np.nan
    return damaged


def _quantile(q, name):
    """An exactextract operation named ``name``: the ``q`` quantile of the valid pixels weighed by
    coverage, the smallest value at which their cumulative weight reaches ``q`` of the total.

    Not exactextract's own ``quantile``: in 0.3 it interpolates between the *distinct* values
    whatever their weights (pixels of two values give the midpoint as median, even 99 % of them
    at one value), which change maps saturated at 0 or 1 make wrong.
    """
    def quantile(values, coverage):
        valid = _valid(values)
        if not valid.any() or coverage[valid].sum() <= 0:
            return np.nan
        x, w = np.ma.getdata(values)[valid].astype(float), coverage[valid].astype(float)
        order = np.argsort(x, kind="stable")
        cumulative = np.cumsum(w[order])
        # A relative tolerance, so that float sums do not skip the value reaching q exactly.
        index = np.searchsorted(cumulative, q * cumulative[-1] * (1 - 1e-9))
        return float(x[order][min(index, len(x) - 1)])
    quantile.__name__ = name  # exactextract names the column after the function
    return quantile


def _extract(dataset, geometries, ops, progress):
    """exactextract's results for band 1 of ``dataset``, one row per geometry, in order."""
    geometries = np.asarray(geometries)
    # Parcels visited row of blocks by row of blocks, so each block is read once while cached
    # rather than once per parcel in the layer's order.
    x, y = shapely.get_coordinates(shapely.centroid(geometries)).T.reshape(2, -1)
    cols, rows = ~dataset.transform @ (x, y)
    block = dataset.block_shapes[0][0]
    order = np.lexsort((np.nan_to_num(cols), np.nan_to_num(rows // block)))
    features = geopandas.GeoDataFrame(geometry=geopandas.GeoSeries(geometries[order], crs=dataset.crs))
    report = (lambda fraction, message: progress(fraction)) if progress else False
    found = exact_extract(RasterioRasterSource(dataset, 1), features, ops, output="pandas", progress=report)
    if len(found) != len(features):
        raise RuntimeError(f"exactextract answered {len(found)} rows for {len(features)} parcels")
    found.index = order
    return found.sort_index()
