"""The ranking as the files clients open: GeoJSON (web clients, OGC API), a zipped shapefile
(what QGIS loads), CSV (what a spreadsheet loads), and the quicklook.

The CSV holds the attributes alone, no geometry: a spreadsheet has no use for WKT polygons
of thousands of vertices, and the other two carry the geometry. Its rows are the table's
(rank order), UTF-8, comma-separated, a header row, empty cells for missing values.
"""

from pathlib import Path

from ..vectors.writing import write_csv, write_geojson, write_zipped_shapefile
from .quicklook import write_quicklook

LAYER = "ranking"


def write_ranking(table, folder, title="Parcel damage"):
    """Write the ranking's files into ``folder``: ``{"geojson", "shapefile", "csv", "quicklook": path}``."""
    folder = Path(folder)
    return {
        "geojson": write_geojson(table, folder / f"{LAYER}.geojson"),
        "shapefile": write_zipped_shapefile(table, folder / f"{LAYER}.zip", LAYER),
        "csv": write_csv(table, folder / f"{LAYER}.csv"),
        "quicklook": write_quicklook(table, folder / "quicklook.png", title),
    }
