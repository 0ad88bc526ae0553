"""What a value given for a file input is: a local file to upload, or a reference (a URL, or a
path under one of the server's data roots) to pass on; and how an upload is encoded."""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

GEOTIFF = "image/tiff; subtype=geotiff"
#: Media types sent as text (uploads of any other type are sent in base64).
TEXT_TYPES = ("application/json", "application/geo+json", "application/gml+xml", "application/xml", "text/xml")
#: Media types by file suffix, where Python's table lacks them or says otherwise.
SUFFIX_TYPES = {".tif": GEOTIFF, ".tiff": GEOTIFF, ".geojson": "application/geo+json",
                ".gml": "application/gml+xml", ".gpkg": "application/geopackage+sqlite3",
                ".json": "application/json", ".zip": "application/zip"}


@dataclass(frozen=True)
class Upload:
    """A local file, sent in the request with its media type."""

    path: Path
    media_type: str

    @property
    def is_text(self) -> bool:
        return self.media_type in TEXT_TYPES or self.media_type.startswith("text/")

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def data(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class Reference:
    """A URL, or a path the server resolves under its data roots."""

    text: str

    @property
    def is_url(self) -> bool:
        return urlsplit(self.text).scheme in ("http", "https", "file")


def file_value(value: str | os.PathLike[str], formats: tuple[str, ...] = ()) -> Upload | Reference:
    """A file input's value: a ``Path`` or the name of an existing local file is an
    :class:`Upload` (its media type one of ``formats`` where one fits); any other text a
    :class:`Reference`."""
    if isinstance(value, os.PathLike) or (isinstance(value, str) and not urlsplit(value).scheme
                                          and Path(value).is_file()):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"no file {path} to upload")
        return Upload(path, media_type(path, formats))
    return Reference(str(value))


def media_type(path: Path, formats: tuple[str, ...] = ()) -> str:
    """The media type to upload ``path`` as: the input's format matching its suffix (GeoTIFF
    before plain TIFF), else the usual one for the suffix, else the input's first format."""
    guessed = SUFFIX_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    if not formats or guessed in formats:
        return guessed or "application/octet-stream"
    base = (guessed or "").split(";")[0]
    same = [f for f in formats if f.split(";")[0].strip() == base]
    if base == "application/json":  # a .json file may hold GeoJSON
        same += [f for f in formats if f == "application/geo+json"]
    return (same or list(formats))[0]
