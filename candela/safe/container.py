"""One SAFE product, as a folder or a zip: its files listed, its metadata read within limits,
and its rasters named so that GDAL opens them where they lie (in place, or through ``/vsizip/``).

A product is found by its marker files (``manifest.safe``, ``MTD_MSIL2A.xml``, ...): in the
folder given, else in that folder's only ``.SAFE`` subfolder; in a zip, at its top or one
folder down. A zip is never extracted here.
"""

import os
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError

#: Largest metadata document read (real MTD_TL.xml files are under 1 MB).
MAX_XML_BYTES = 20 * 2**20


@dataclass(frozen=True)
class Kind:
    """A kind of SAFE product: how messages call it, and the files that mark it."""

    name: str  # e.g. "Sentinel-2 product"
    markers: str  # the marker files as messages name them, e.g. "manifest.safe"
    pattern: re.Pattern  # the marker files' names


class SafeFolder:
    """A product unpacked in a folder (the ``.SAFE`` folder itself)."""

    zipped = False

    def __init__(self, folder, markers):
        self.path = folder
        self.name = folder.name
        self.markers = markers
        self.files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]

    def read(self, name):
        """The bytes of the metadata file ``name`` (relative), refused beyond MAX_XML_BYTES."""
        with open(self.path / name, "rb") as stream:
            return _limited(stream, name)

    def raster_path(self, name):
        """The path GDAL opens the raster ``name`` (relative) by."""
        return str(self.path / name)


class SafeZip:
    """A zipped product, read in place."""

    zipped = True

    def __init__(self, path, archive, prefix, markers):
        self.path = path
        self.name = prefix.rstrip("/") or path.stem
        self.markers = markers
        self.files = [n[len(prefix):] for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
        self._archive = archive
        self._prefix = prefix

    def read(self, name):
        """The bytes of the metadata member ``name`` (relative), refused beyond MAX_XML_BYTES."""
        info = self._archive.getinfo(self._prefix + name)
        if info.file_size > MAX_XML_BYTES:
            raise _too_large(name)
        with self._archive.open(info) as stream:
            return _limited(stream, name)  # declared sizes can lie

    def raster_path(self, name):
        """The ``/vsizip/`` path GDAL opens the raster member ``name`` (relative) by."""
        return f"/vsizip/{os.path.abspath(self.path)}/{self._prefix}{name}"


@contextmanager
def open_safe(path, kind):
    """The product of ``kind`` in ``path``: a zip, a ``.SAFE`` folder, or a folder holding one.

    Yields a :class:`SafeFolder` or a :class:`SafeZip` (whose archive stays open inside the
    ``with``); anything else is an InputError.
    """
    path = Path(path)
    if path.is_dir():
        yield _find_folder(path, kind)
        return
    try:
        with zipfile.ZipFile(path) as archive:
            yield _find_zipped(path, archive, kind)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError):
        # RuntimeError: an encrypted member.
        raise InputError("the zip archive is damaged, encrypted or uses an unsupported compression") from None


def _find_folder(folder, kind):
    markers = _markers(folder, kind)
    if markers:
        return SafeFolder(folder, markers)
    candidates = [c for c in folder.iterdir() if c.is_dir() and c.name.upper().endswith(".SAFE")]
    if len(candidates) > 1:
        raise InputError(f"the folder holds {len(candidates)} .SAFE products; give one")
    if candidates and (markers := _markers(candidates[0], kind)):
        return SafeFolder(candidates[0], markers)
    raise InputError(f"not a {kind.name} (no {kind.markers} found)")


def _markers(folder, kind):
    return sorted(p.name for p in folder.iterdir() if kind.pattern.fullmatch(p.name) and p.is_file())


def _find_zipped(path, archive, kind):
    found = [n for n in archive.namelist()
             if kind.pattern.fullmatch(PurePosixPath(n).name) and n.count("/") <= 1 and not n.endswith("/")]
    if not found:
        raise InputError(f"not a {kind.name} (the zip holds no {kind.markers})")
    prefixes = {n[: -len(PurePosixPath(n).name)] for n in found}
    if len(prefixes) > 1:
        raise InputError("the zip holds several SAFE products; give one")
    return SafeZip(path, archive, prefixes.pop(), sorted(PurePosixPath(n).name for n in found))


def _limited(stream, name):
    # Never read more than the limit, whatever the file says of its size.
    data = stream.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise _too_large(name)
    return data


def _too_large(name):
    return InputError(f"the product metadata {PurePosixPath(name).name} are larger than the "
                      f"{MAX_XML_BYTES >> 20} MiB allowed")
