"""Ranking parcels by damage: parcels and change maps in, one row per parcel and a summary out.

Per parcel and per change source ``{key}`` (``opt``, ``sar``), over the pixels of the kept
land-cover classes (all of the parcel without a land-cover map), pixels weighed by the exact
fraction of them the parcel covers and by their area (:mod:`.zonal`):

- ``{key}_mean``, ``{key}_p50``, ``{key}_p90``: mean, median and 90th percentile of the change
  probability;
- ``{key}_dmg_ha``: damaged area (ha), the pixels whose probability is at least ``threshold``
  (a significance map: where its test rejects no change, see :func:`.sources.map_threshold`);
- ``{key}_dmg_fr``: damaged fraction, ``{key}_dmg_ha`` over the kept area with values;
- ``{key}_valid``: valid fraction, the kept area with values over the kept area (clouds leave
  the optical map NaN; a map covering half the parcel gives 0.5).

A source is *usable* for a parcel when its valid fraction is at least ``min_valid`` (default
:data:`MIN_VALID`, 0.5: less than half the parcel seen says too little) and its weight is above
0. Over the usable sources, weights renormalised:

- ``dmg_frac``: the weighted mean of their damaged fractions; ``mean_prob``: of their means;
- ``dmg_ha``: ``dmg_frac`` x ``kept_ha``, the damaged area estimated over the whole kept area;
- ``score``: ``dmg_frac``. The share of a parcel's forest that is down is what orders the
  forester's visits; ``dmg_ha`` is there to sort by area instead;
- ``rank``: 1 for the hardest hit, by score, then ``mean_prob``, both descending; parcels equal
  in both (to the 4 decimals written) share a rank (1, 2, 2, 4);
- ``level``: the CANDELA level of ``dmg_frac`` (:mod:`.levels`);
- ``sources``: the usable sources joined by ``+`` (``optical+sar``; ``sar`` where clouds hid
  the parcel from the optical map);
- ``status``: ``ranked``, or why not (:data:`STATUSES`); a parcel not ranked keeps its row,
  with no rank, level or combined values.

Also ``area_ha`` (geodesic, on the parcels' ellipsoid), ``kept_ha`` (area of the kept
classes; ``area_ha`` without a land-cover map) and ``feature`` (the parcel's 0-based position
in its layer). No parcel is dropped and every attribute is kept; one named as an output column
is renamed ``in_<name>`` (:func:`.parcels.renamed`). Rows come in rank order, unranked parcels
last in their layer's order. Every column name fits a shapefile's 10 characters.
"""

import math
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import geopandas
import numpy as np
import pandas
import rasterio

from ..errors import InputError, blaming
from ..rasters.reading import MAX_PIXELS, open_raster
from . import zonal
from .landcover import LandCover
from .levels import LEVEL_NAMES, bounds, level_of
from .parcels import check_polygons, ground_areas, renamed
from .sources import check_sources, given_period, map_threshold, overall, read_period

DEFAULT_THRESHOLD = 0.5
MIN_VALID = 0.5
HECTARE = 10_000.0
#: GDAL's block cache during a run: what bounds its memory on a whole tile (GDAL's default, 5 %
#: of the machine's memory, would grow past a gigabyte masking a 10980 x 10980 map).
CACHE_BYTES = 256 * 2**20
#: Probabilities a little outside [0, 1] (float rounding) are still probabilities.
TOLERANCE = 1e-6
#: Decimals kept: hectares to the m², fractions and probabilities to 1e-4.
DIGITS = 4

RANKED, OUTSIDE, NO_LANDCOVER, NO_KEPT, NO_USABLE = (
    "ranked", "outside the maps", "no land cover", "no kept classes", "no usable pixels")
#: A parcel's status, in the order they are checked: why it is not ranked.
STATUSES = {
    RANKED: "ranked",
    OUTSIDE: "no change map covers any of it",
    NO_LANDCOVER: "the land-cover map has no data over it",
    NO_KEPT: "none of its land cover is of a kept class",
    NO_USABLE: "no change map has values over enough of it (at least min_valid of its kept area)",
}
FEATURE = "feature"
COMBINED = ("rank", "level", "score", "dmg_frac", "dmg_ha", "mean_prob", "sources", "status", "area_ha", "kept_ha")
PER_SOURCE = ("mean", "p50", "p90", "dmg_ha", "dmg_fr", "valid")


@dataclass
class Ranking:
    """The ranked parcels (a GeoDataFrame in the parcels' CRS, rank order) and the run's
    JSON-ready summary."""

    table: geopandas.GeoDataFrame
    summary: dict


def output_columns(sources):
    """The columns a run over ``sources`` adds, in order."""
    return [*COMBINED, *(f"{s.key}_{name}" for s in sources for name in PER_SOURCE), FEATURE]


def rank_parcels(parcels, sources, workdir, *, landcover=None, classes=None, threshold=DEFAULT_THRESHOLD,
                 before=None, after=None, min_valid=MIN_VALID, max_pixels=MAX_PIXELS, progress=None):
    """Rank ``parcels`` (a GeoDataFrame of polygons with a CRS) by the damage the change maps
    of ``sources`` (:class:`.sources.ChangeSource`) show, over the classes named in
    ``classes`` (comma-separated, default all) of the ``landcover`` map if one is given.

    ``threshold``: the probability from which a pixel is damaged. ``before``/``after``
    (ISO 8601 text or datetimes) override the maps' change periods. Temporary masked copies
    of the change maps go in ``workdir``. Bad input is an InputError naming it (``threshold``,
    ``classes``, ``landcover``, ``parcels``, ``before``, ``after``, or a source's ``input``).
    """
    report = progress or (lambda fraction, message: None)
    threshold = check_threshold(threshold)
    if not 0 < min_valid <= 1:
        raise ValueError(f"min_valid must be in (0, 1], got {min_valid}")
    check_sources(sources)
    given = given_period(before, after)
    if landcover is None and classes and str(classes).strip():
        raise InputError("classes name classes of a land-cover map, and no landcover was given", "classes")
    check_polygons(parcels)
    area_m2 = ground_areas(parcels)
    stages = len(sources) * (2 if landcover is not None else 1) + (landcover is not None)
    stage = _Stages(report, stages)
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES), ExitStack() as stack:
        cover = None
        if landcover is not None:
            cover = stack.enter_context(LandCover(landcover, classes, max_pixels=max_pixels))
            areas = zonal.class_areas(cover.dataset, _in_crs(parcels, cover.dataset), area_m2,
                                      stage("land cover per parcel"))
            kept_m2 = np.array([sum(a for v, a in found.items() if cover.keeps([v])[0]) for found in areas])
            data_m2 = np.array([sum(a for v, a in found.items() if v not in cover.nodata) for found in areas])
        else:
            kept_m2 = data_m2 = area_m2
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="masked-", dir=workdir)))
        statistics, periods, grids, thresholds = {}, {}, {}, {}
        for source in sources:
            with blaming(source.input):
                dataset = stack.enter_context(open_raster(source.path, max_pixels=max_pixels))
            periods[source.name] = read_period(dataset.tags(), given)
            thresholds[source.name] = map_threshold(dataset.tags(), threshold)
            grids[source.name] = _grid(dataset)
            measured = dataset
            if cover is not None:
                copy = cover.masked_copy(dataset, folder / f"{source.name}.tif", source.input,
                                         stage(f"masking the {source.name} change map"))
                measured = stack.enter_context(rasterio.open(copy))
            found = zonal.change_statistics(measured, _in_crs(parcels, dataset), area_m2, thresholds[source.name],
                                            stage(f"{source.name} change per parcel"))
            check_probabilities(found, source)
            statistics[source.name] = found
    columns, usable = _columns(sources, statistics, area_m2, kept_m2, data_m2, cover is not None, min_valid)
    table = _table(parcels, sources, columns)
    report(1.0, "ranked")
    summary = _summary(table, sources, usable, periods, grids, cover, threshold, min_valid, parcels)
    summary["thresholds"] = thresholds
    return Ranking(table, summary)


def check_threshold(threshold):
    """``threshold`` as a float in (0, 1]; else an InputError naming it."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"not a number: {str(threshold)[:30]!r}", "threshold") from None
    if not 0 < value <= 1:
        raise InputError(f"a probability in (0, 1] is needed, got {value:g}", "threshold")
    return value


def check_probabilities(statistics, source):
    """Refuse a map whose values inside the parcels are not probabilities (a change mask in
    0/255, a reflectance image sent by mistake)."""
    low = np.nanmin(statistics["min"].to_numpy(dtype=float), initial=np.inf)
    high = np.nanmax(statistics["max"].to_numpy(dtype=float), initial=-np.inf)
    if low < -TOLERANCE or high > 1 + TOLERANCE:
        raise InputError(f"band 1 holds values from {low:g} to {high:g} in the parcels: a change probability "
                         "map in [0, 1] is needed (ChangeDetect's or SARChangeDetect's change_map)", source.input)


def _columns(sources, statistics, area_m2, kept_m2, data_m2, with_landcover, min_valid):
    """The output columns as arrays, per parcel in layer order, and how many parcels each
    source was usable for."""
    count = len(area_m2)
    kept_m2 = np.asarray(kept_m2, dtype=float)
    columns = {"area_ha": area_m2 / HECTARE, "kept_ha": kept_m2 / HECTARE}
    weighted, weight_sum, covered = np.zeros(count), np.zeros(count), np.zeros(count, dtype=bool)
    weighted_mean = np.zeros(count)
    usable_names, usable_counts = [[] for _ in range(count)], {}
    for source in sources:
        found = statistics[source.name]
        with np.errstate(invalid="ignore", divide="ignore"):
            valid = np.where(kept_m2 > 0, np.minimum(found["valid_m2"].to_numpy() / kept_m2, 1.0), 0.0)
        fraction = found["damaged"].to_numpy(dtype=float)
        mean = found["mean"].to_numpy(dtype=float)
        columns.update({
            f"{source.key}_mean": mean, f"{source.key}_p50": found["p50"].to_numpy(dtype=float),
            f"{source.key}_p90": found["p90"].to_numpy(dtype=float),
            f"{source.key}_dmg_ha": np.where(np.isfinite(fraction), fraction * found["valid_m2"] / HECTARE, np.nan),
            f"{source.key}_dmg_fr": fraction, f"{source.key}_valid": valid,
        })
        covered |= found["covered_m2"].to_numpy() > 0
        usable = (valid >= min_valid) & np.isfinite(fraction) & (source.weight > 0)
        weighted += np.where(usable, source.weight * np.nan_to_num(fraction), 0.0)
        weighted_mean += np.where(usable, source.weight * np.nan_to_num(mean), 0.0)
        weight_sum += np.where(usable, source.weight, 0.0)
        for row in np.flatnonzero(usable):
            usable_names[row].append(source.name)
        usable_counts[source.name] = int(usable.sum())
    ranked = weight_sum > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        dmg_frac = np.where(ranked, weighted / weight_sum, np.nan)
        mean_prob = np.where(ranked, weighted_mean / weight_sum, np.nan)
    status = np.select(
        [ranked, ~covered, with_landcover & (np.asarray(data_m2) <= 0), kept_m2 <= 0],
        [RANKED, OUTSIDE, NO_LANDCOVER, NO_KEPT], NO_USABLE).astype(object)
    columns.update(dmg_frac=dmg_frac, dmg_ha=dmg_frac * kept_m2 / HECTARE, mean_prob=mean_prob, score=dmg_frac,
                   rank=_ranks(dmg_frac, mean_prob), status=status,
                   level=np.array([level_of(f) for f in dmg_frac], dtype=object),
                   sources=np.array(["+".join(names) if names else None for names in usable_names], dtype=object))
    return columns, usable_counts


def _ranks(score, tie_break):
    """Competition ranks (1 = highest ``score``, then ``tie_break``; parcels equal in both as
    the outputs show them, to :data:`DIGITS` decimals, share a rank); missing where ``score``
    is NaN."""
    keys = [(round(s, DIGITS), round(t, DIGITS)) for s, t in zip(score, np.nan_to_num(tie_break))]
    first = {}
    for position, key in enumerate(sorted((k for k in keys if not math.isnan(k[0])), reverse=True), start=1):
        first.setdefault(key, position)
    return pandas.array([first.get(key, pandas.NA) for key in keys], dtype="Int64")


def _table(parcels, sources, columns):
    """The output table: our columns first (so a shapefile keeps their names), then the parcels'
    attributes and geometry, rows in rank order."""
    attributes, _ = renamed(parcels, output_columns(sources))
    ours = {name: columns[name] for name in output_columns(sources) if name in columns}
    ours[FEATURE] = np.asarray(parcels.index)
    for name, values in ours.items():
        if name not in ("rank", FEATURE) and np.asarray(values).dtype.kind == "f":
            ours[name] = np.round(values, DIGITS)
    frame = pandas.DataFrame(ours, index=parcels.index)
    frame["rank"] = frame["rank"].astype("Int64")
    table = geopandas.GeoDataFrame(pandas.concat([frame, attributes], axis=1), geometry=parcels.geometry.name,
                                   crs=parcels.crs)
    order = table.assign(_unranked=table["rank"].isna(), _rank=table["rank"].fillna(0), _position=range(len(table)))
    order = order.sort_values(["_unranked", "_rank", "_position"], kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def _summary(table, sources, usable, periods, grids, cover, threshold, min_valid, parcels):
    statuses = table["status"].value_counts()
    levels = table["level"].value_counts()
    return {
        "parcels": len(table),
        "parcels_without_geometry": int(parcels.attrs.get("without_geometry", 0)),
        "threshold": threshold,
        "min_valid": min_valid,
        "weights": {source.name: source.weight for source in sources},
        "period": overall(list(periods.values())).as_json(),
        "sources": {source.name: {
            "key": source.key, "weight": source.weight, "period": periods[source.name].as_json(),
            **grids[source.name], "usable_parcels": usable[source.name],
        } for source in sources},
        "landcover": None if cover is None else {
            "classes": {str(value): name for value, name in sorted(cover.names.items())},
            "kept": cover.kept_names, **_grid(cover.dataset)},
        "kept_classes": cover.kept_names if cover is not None else None,
        "status": {status: int(statuses.get(status, 0)) for status in STATUSES},
        "levels": {level: int(levels.get(level, 0)) for level in LEVEL_NAMES},
        "level_bounds": bounds(),
        "damaged_ha": _number(table["dmg_ha"].sum(skipna=True)),
        "kept_ha": _number(table["kept_ha"].sum()),
    }


def _grid(dataset):
    crs = dataset.crs
    epsg = crs.to_epsg()
    return {"crs": f"EPSG:{epsg}" if epsg else crs.to_wkt(), "pixel_size": [abs(dataset.res[0]), abs(dataset.res[1])],
            "size": [dataset.width, dataset.height]}


def _number(value):
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)


def _in_crs(parcels, dataset):
    return parcels.geometry.to_crs(dataset.crs)


class _Stages:
    """Progress of a run in equal stages: each call gives the next stage's ``progress(fraction)``."""

    def __init__(self, report, count):
        self.report, self.count, self.done = report, max(count, 1), 0

    def __call__(self, message):
        start = self.done
        self.done += 1
        return lambda fraction: self.report(min((start + fraction) / self.count, 1.0), message)
