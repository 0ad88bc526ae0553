"""Writing vector layers for clients: RFC 7946 GeoJSON, zipped shapefiles (what the QGIS
plugin opens through /vsizip/), and their attributes as CSV (what a spreadsheet opens)."""

import re
import tempfile
import zipfile
from pathlib import Path

from pandas.api.types import is_bool_dtype, is_numeric_dtype

#: DBF field names hold at most this many bytes.
DBF_NAME_BYTES = 10
#: Layer names, which become the shapefile's file names in the zip.
LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def write_geojson(features, path):
    """Write ``features`` to ``path`` as RFC 7946 GeoJSON (EPSG:4326, longitude then latitude,
    no ``crs`` member); return ``path``."""
    _require_crs(features)
    path = Path(path)
    path.unlink(missing_ok=True)  # GDAL's GeoJSON driver does not overwrite
    features.to_crs("EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio", RFC7946="YES")
    return path


def write_zipped_shapefile(features, path, layer):
    """Write ``features`` to ``path`` as a zip holding only the shapefile ``layer`` (.shp, .shx,
    .dbf, .prj, .cpg) at its root, in the features' own CRS, fields renamed by
    :func:`shapefile_field_names`; return ``path``."""
    _require_crs(features)
    if not LAYER_NAME.fullmatch(layer):
        raise ValueError(f"unsuitable shapefile layer name {layer!r}")
    path = Path(path)
    columns = [name for name in features.columns if name != features.geometry.name]
    renamed = features.rename(columns=dict(zip(columns, shapefile_field_names(columns))))
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        renamed.to_file(Path(folder) / f"{layer}.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(Path(folder).iterdir()):
                archive.write(file, file.name)
    return path


#: What a spreadsheet takes a cell starting with for a formula (OWASP's "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(features, path):
    """Write the attributes of ``features`` (no geometry) to ``path`` as UTF-8 CSV with a header
    row, empty cells for missing values; return ``path``. Text that a spreadsheet would run as
    a formula (``=HYPERLINK(...)`` in a parcel's name) is written behind a quote (``'=...``);
    numbers are left alone."""
    table = features.drop(columns=features.geometry.name)
    for column in table.columns:
        if not is_numeric_dtype(table[column]) and not is_bool_dtype(table[column]):
            table[column] = table[column].map(_defused, na_action="ignore")
    table.to_csv(path, index=False, encoding="utf-8", na_rep="")
    return Path(path)


def _defused(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def shapefile_field_names(names):
    """DBF field names for ``names``, in order: each at most DBF_NAME_BYTES bytes of UTF-8 and
    unique ignoring case (as DBF readers compare them); a name already taken once cut gets
    the first free suffix ``_1``, ``_2``, ... in place of its last characters."""
    taken, fields = set(), []
    for name in names:
        base = _cut(str(name), DBF_NAME_BYTES) or "field"
        field, number = base, 0
        while field.upper() in taken:
            number += 1
            suffix = f"_{number}"
            field = _cut(base, DBF_NAME_BYTES - len(suffix)) + suffix
        taken.add(field.upper())
        fields.append(field)
    return fields


def _cut(text, size):
    """``text`` cut to at most ``size`` bytes of UTF-8, never inside a character."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _require_crs(features):
    if features.crs is None:
        raise ValueError("features without a coordinate reference system cannot be written")
