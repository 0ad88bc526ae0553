"""Stored observations as tables for clients: a GeoDataFrame, GeoJSON, zipped shapefile, CSV."""

import json

import geopandas as gpd

from ..vectors.writing import write_csv, write_geojson, write_zipped_shapefile

#: The columns of an exported observation, in order (the parcel's own attributes follow).
COLUMNS = ("parcel", "damaged_fraction", "damaged_ha", "level", "rank", "score", "area_ha", "kept_ha",
           "classes", "sources", "period_start", "period_end", "status", "process", "job_id", "run_id")


def observations_frame(observations):
    """A GeoDataFrame (EPSG:4326) of stored observations: :data:`COLUMNS`, then the parcels'
    own attributes (those not named like a column), lists joined by ``+``."""
    rows, extra = [], []
    for observation in observations:
        row = {name: observation[name] for name in COLUMNS}
        row["classes"] = "+".join(observation["classes"])
        row["sources"] = "+".join(observation["sources"])
        for name, value in observation["attributes"].items():
            if name in COLUMNS or name == "geometry":
                continue
            if name not in extra:
                extra.append(name)
            row[name] = value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value)
        rows.append(row)
    columns = [*COLUMNS, *extra]
    return gpd.GeoDataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns,
                            geometry=[o["geometry"] for o in observations], crs="EPSG:4326")


def write_all(frame, folder, name):
    """``name.geojson``, ``name.zip`` (shapefile ``name``) and ``name.csv`` in ``folder``; their paths."""
    return (write_geojson(frame, folder / f"{name}.geojson"), write_zipped_shapefile(frame, folder / f"{name}.zip", name),
            write_csv(frame, folder / f"{name}.csv"))
