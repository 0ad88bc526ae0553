"""A ranking as observations for the results store (:mod:`candela.results`): one per parcel."""

import datetime
import math

import numpy as np
import pandas

from ..results.records import Observation
from .identifiers import parcel_ids
from .ranking import COMBINED, FEATURE, PER_SOURCE

def observations(ranking, sources, id_field=None):
    """:class:`~candela.results.records.Observation` of every parcel of a
    :class:`~candela.damage.ranking.Ranking` (``sources``: its ChangeSources)."""
    table, summary = ranking.table, ranking.summary
    lonlat = table.to_crs(4326)
    ours = set(COMBINED) | {FEATURE} | {f"{s.key}_{name}" for s in sources for name in PER_SOURCE}
    attributes = [c for c in table.columns if c not in ours and c != table.geometry.name]
    classes = summary.get("kept_classes") or ()
    period = summary["period"]
    found = []
    ids = [parcel[:255] for parcel in parcel_ids(table, id_field)]  # the store keeps 255 characters
    for (_, row), geometry, parcel in zip(table.iterrows(), lonlat.geometry, ids):
        details = {s.name: {name: _plain(row[f"{s.key}_{name}"]) for name in PER_SOURCE} for s in sources}
        found.append(Observation(
            parcel=parcel, geometry=geometry, status=str(row["status"]),
            attributes={name: _plain(row[name]) for name in attributes},
            classes=classes, sources=tuple(str(row["sources"]).split("+")) if not _missing(row["sources"]) else (),
            period_start=period["start"], period_end=period["end"], area_ha=_plain(row["area_ha"]),
            kept_ha=_plain(row["kept_ha"]), damaged_ha=_plain(row["dmg_ha"]), damaged_fraction=_plain(row["dmg_frac"]),
            score=_plain(row["score"]), rank=_plain(row["rank"]), level=_plain(row["level"]),
            details={"mean_probability": _plain(row["mean_prob"]), "feature": int(row[FEATURE]), **details}))
    return found


def _missing(value):
    return value is None or value is pandas.NA or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    """A JSON-ready value: numpy and pandas scalars as Python's, missing as None, dates as ISO text."""
    if _missing(value) or (isinstance(value, np.floating) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime.date, datetime.time, pandas.Timestamp)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # anything else a layer may hold (Decimal, bytes, lists): as text
