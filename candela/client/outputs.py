"""A job's outputs: downloaded to a folder (streamed, resumed, under their real names) and
opened on demand: rasters with rasterio (or as xarray with rioxarray), vectors with geopandas,
JSON as Python data, PNG images shown inline in a notebook."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from .errors import raise_for

RASTERS = ("image/tiff", "image/geotiff", "application/x-geotiff")
VECTORS = ("application/geo+json", "application/gml+xml", "application/geopackage+sqlite3",
           "application/x-zipped-shp", "application/vnd.google-earth.kml+xml")
JSON_TYPES = ("application/json",)
#: The kind of an output by its file's suffix, where its media type says nothing more.
SUFFIX_KINDS = {".tif": "raster", ".tiff": "raster", ".geojson": "vector", ".gml": "vector", ".gpkg": "vector",
                ".shp": "vector", ".kml": "vector", ".json": "json", ".png": "image"}
#: File suffixes of embedded outputs by media type.
EXTENSIONS = {"application/json": ".json", "application/geo+json": ".geojson", "application/gml+xml": ".gml",
              "image/png": ".png", "image/tiff": ".tif", "application/zip": ".zip", "text/plain": ".txt",
              "application/geopackage+sqlite3": ".gpkg"}
CHUNK = 1 << 18  # an interruption loses no more than this of what came
FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


class Output:
    """One output of a job: a link (``href``) to download, or a ``value`` the server sent in
    its answer (JSON as Python data, text as ``str``, binary data as ``bytes``)."""

    def __init__(self, session: requests.Session, name: str, *, href: str | None = None, value: Any = None,
                 media_type: str | None = None):
        self.session, self.name, self.href, self.value = session, name, href, value
        self.media_type = media_type
        self.path: Path | None = None  # where it was downloaded

    def __repr__(self) -> str:
        return f"<Output {self.name}: {self.href or type(self.value).__name__} ({self.media_type})>"

    @property
    def kind(self) -> str:
        """What :meth:`open` makes of it: ``raster``, ``vector``, ``json``, ``image`` (PNG) or
        ``file`` (a zip is ``vector`` once downloaded, if it holds a shapefile)."""
        media = (self.media_type or "").split(";")[0].strip().lower()
        if media in RASTERS:
            return "raster"
        if media in VECTORS:
            return "vector"
        if media in JSON_TYPES:
            return "json"
        if media == "image/png":
            return "image"
        suffix = Path(self.path.name if self.path else urlsplit(self.href or "").path).suffix.lower()
        if suffix == ".zip" or media == "application/zip":
            return "vector" if self.path is not None and _holds_shapefile(self.path) else "file"
        return SUFFIX_KINDS.get(suffix, "json" if self.href is None and not isinstance(self.value, (str, bytes))
                                else "file")

    # Downloading

    def download(self, folder: str | Path = ".") -> Path:
        """The output as a file in ``folder``, named as on the server (a value sent in the
        answer: after the output, ``summary.json``). Streamed to ``<name>.part``, and resumed
        from there after an interruption where the server honours ``Range`` (and the file
        has not changed since, by its ``ETag``); otherwise downloaded whole again."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.href is None:
            self.path = self._write_value(folder)
            return self.path
        target = folder / (Path(unquote(urlsplit(self.href).path)).name or self.name)
        partial, validator = (target.with_name(target.name + suffix) for suffix in (".part", ".part.etag"))
        done = partial.stat().st_size if partial.exists() else 0
        headers = {}
        if done:
            headers["Range"] = f"bytes={done}-"
            if validator.exists():
                headers["If-Range"] = validator.read_text()
        response = self.session.get(self.href, headers=headers, stream=True, timeout=60)
        if response.status_code == 416 or (response.status_code == 206 and _range_start(response) != done):
            response.close()  # the partial file is no shorter than the whole, or not where the server went on
            done, response = 0, self.session.get(self.href, stream=True, timeout=60)
        with response:
            raise_for(response)
            resume = bool(done) and response.status_code == 206
            if not resume:
                tag = response.headers.get("ETag") or response.headers.get("Last-Modified")
                if tag and not tag.startswith("W/"):  # If-Range takes strong validators only
                    validator.write_text(tag)
                else:
                    validator.unlink(missing_ok=True)
            with open(partial, "ab" if resume else "wb") as out:
                out.writelines(response.iter_content(CHUNK))
            named = _disposition_name(response)
        if named:
            target = folder / named
        partial.replace(target)
        validator.unlink(missing_ok=True)
        self.path = target
        return target

    def _write_value(self, folder: Path) -> Path:
        media = (self.media_type or "").split(";")[0].strip()
        target = folder / f"{self.name}{EXTENSIONS.get(media, '.json' if self.kind == 'json' else '')}"
        if isinstance(self.value, bytes):
            target.write_bytes(self.value)
        elif isinstance(self.value, str):
            target.write_text(self.value)
        else:
            target.write_text(json.dumps(self.value, indent=2))
        return target

    # Opening

    def open(self, folder: str | Path = ".", *, as_xarray: bool = False) -> Any:
        """The output opened, downloaded into ``folder`` first where needed:

        - a raster: a rasterio dataset (use it in a ``with`` block), or with ``as_xarray=True``
          an ``xarray.DataArray`` read by rioxarray (``pip install rioxarray``);
        - a vector (GeoJSON, GML, GeoPackage, zipped shapefile): a ``geopandas.GeoDataFrame``;
        - JSON: Python data (a dict);
        - a PNG image: in a notebook, an ``IPython.display.Image``, shown inline as a cell's
          value; elsewhere its downloaded path;
        - anything else: a value sent in the answer as is, a link's downloaded path.
        """
        kind = self.kind
        if as_xarray and kind != "raster":
            raise ValueError(f"{self.name} is not a raster ({self.media_type}): it has no xarray form")
        if kind == "json":
            return self.value if self.href is None else json.loads(self._file(folder).read_text())
        if self.href is None and isinstance(self.value, str) and kind == "file":
            return self.value  # text sent in the answer
        path = self._file(folder)
        kind = self.kind  # what a zip holds is known once downloaded
        if as_xarray:
            try:
                import rioxarray
            except ImportError:
                raise ImportError("Opening a raster as xarray needs rioxarray: pip install rioxarray") from None
            return rioxarray.open_rasterio(path)
        if kind == "raster":
            import rasterio

            return rasterio.open(path)
        if kind == "vector":
            try:
                import geopandas
            except ImportError:
                raise ImportError("Opening a vector output needs geopandas: pip install geopandas") from None
            return geopandas.read_file(path)
        if kind == "image" and _in_notebook():
            from IPython.display import Image

            return Image(filename=str(path))
        return path

    def _file(self, folder: str | Path) -> Path:
        return self.path if self.path is not None and self.path.exists() else self.download(folder)


def _range_start(response: requests.Response) -> int | None:
    found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(found.group(1)) if found else None


def _disposition_name(response: requests.Response) -> str | None:
    """The file name a ``Content-Disposition`` header gives, reduced to a plain name."""
    found = FILENAME.search(response.headers.get("Content-Disposition", ""))
    name = Path(unquote(found.group(1))).name if found else ""
    return name if name not in ("", ".", "..") else None


def _holds_shapefile(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.lower().endswith(".shp") for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where an IPython Image shows inline)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
