"""A land-cover map: its class names, the classes kept, and change maps masked to them.

A land-cover map is an integer raster whose value 0 (and its nodata value, if another) is no
data, as FusionClassify's classification (:mod:`candela.classification.maps`): its classes
are named by the tags ``CLASS_<value>`` and ``CLASSES`` (JSON: a list naming values 1, 2, ...,
or an object ``{"value": name}``; ``CLASS_<value>`` wins where both name a value).

A change map on another grid than the land cover is masked on its own grid: the land cover is
brought onto it by nearest neighbour (a warped view, window by window), and a masked copy of
the change map (NaN outside the kept classes) is written, so memory stays bounded on a whole
Sentinel-2 tile and exactextract then reads files.
"""

import json
import re

import numpy as np
import rasterio
from rasterio.enums import Resampling

from ..errors import InputError, blaming
from ..rasters.grid import Grid, aligned
from ..rasters.reading import open_raster, read_masked, windows

NODATA_CLASS = 0
CLASS_TAG = re.compile(r"CLASS_([0-9]+)")
#: Side of the windows a change map is masked in (4 MB of float32).
WINDOW = 1024
#: The masked copies are temporary: fast compression rather than small files.
COPY_OPTIONS = dict(driver="GTiff", dtype="float32", count=1, nodata=np.nan, tiled=True, blockxsize=512,
                    blockysize=512, compress="deflate", zlevel=1, BIGTIFF="IF_SAFER")


class LandCover:
    """An open land-cover map and the classes kept: ``kept`` values, or None for every class
    but no data. Use it in a ``with`` block."""

    def __init__(self, path, classes=None, *, max_pixels, input="landcover", classes_input="classes"):
        self.input = input
        with blaming(input):
            self.dataset = open_raster(path, max_pixels=max_pixels)
        try:
            if np.dtype(self.dataset.dtypes[0]).kind not in "ui":
                raise InputError(f"a land-cover map holds integer classes, not {self.dataset.dtypes[0]} values",
                                 input)
            with blaming(input):
                self.names = class_names(self.dataset.tags())
            self.nodata = {NODATA_CLASS} | ({int(self.dataset.nodata)} if _integral(self.dataset.nodata) else set())
            self.kept = kept_values(self.names, classes, classes_input)
        except BaseException:
            self.dataset.close()
            raise

    @property
    def kept_names(self):
        """The kept classes as the summary names them: names, or values for unnamed ones."""
        if self.kept is None:
            return None
        return [self.names.get(value, str(value)) for value in self.kept]

    def keeps(self, classes):
        """Whether each of ``classes`` (values) is a kept class."""
        classes = np.asarray(classes)
        if self.kept is None:
            return ~np.isin(classes, list(self.nodata))
        return np.isin(classes, self.kept)

    def masked_copy(self, change, destination, source_input, progress=None):
        """Write band 1 of the open ``change`` map to ``destination`` with NaN wherever the
        land cover (nearest neighbour on the change map's grid) is no kept class; return it.

        A land cover not overlapping the change map is an InputError naming it.
        """
        grid = Grid.of(change)
        blocks = list(windows(grid.width, grid.height, WINDOW))
        with aligned(self.dataset, grid, Resampling.nearest, name=self.input,
                     reference=f"the change map {source_input}") as view, \
                rasterio.open(destination, "w", **grid.profile(**COPY_OPTIONS)) as out:
            for done, window in enumerate(blocks, start=1):
                values, valid = read_masked(change, [1], window)
                classes = view.read(1, window=window, masked=True)
                keep = valid & ~np.ma.getmaskarray(classes) & self.keeps(np.ma.getdata(classes))
                out.write(np.where(keep, values[0], np.nan).astype("float32"), 1, window=window)
                if progress:
                    progress(done / len(blocks))
        return destination

    def close(self):
        self.dataset.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def class_names(tags):
    """``{value: name}`` of a land-cover map's tags; ``{}`` when it names none."""
    names = {}
    text = tags.get("CLASSES")
    if text:
        try:
            listed = json.loads(text)
        except ValueError:
            listed = None
        if isinstance(listed, list):
            names = {value: str(name) for value, name in enumerate(listed, start=1)}
        elif isinstance(listed, dict) and all(str(key).strip().isdigit() for key in listed):
            names = {int(key): str(name) for key, name in listed.items()}
        else:
            raise InputError("its CLASSES tag is neither a JSON list of class names nor a JSON object of "
                             "value: name")
    for tag, name in tags.items():
        match = CLASS_TAG.fullmatch(tag)
        if match:
            names[int(match.group(1))] = name
    names.pop(NODATA_CLASS, None)
    return names


def kept_values(names, classes, input="classes"):
    """The values of the classes named in ``classes`` (comma-separated names, or a list),
    sorted; None (every class but no data) when none is named.

    A name matches exactly, else ignoring case. Unknown names are an InputError naming
    ``input`` and listing the map's classes.
    """
    wanted = [c.strip() for c in (classes.split(",") if isinstance(classes, str) else classes or ()) if c.strip()]
    if not wanted:
        return None
    if not names:
        raise InputError("the land-cover map names no classes (tags CLASSES or CLASS_n): leave classes empty "
                         "to keep all its classes", input)
    by_name = {name: value for value, name in names.items()}
    by_folded = {}
    for value, name in names.items():
        by_folded.setdefault(name.casefold(), []).append(value)
    found, unknown = set(), []
    for name in wanted:
        if name in by_name:
            found.add(by_name[name])
        elif len(by_folded.get(name.casefold(), ())) == 1:
            found.add(by_folded[name.casefold()][0])
        else:
            unknown.append(name)
    if unknown:
        listed = ", ".join(repr(n) for n in unknown[:10])
        raise InputError(f"unknown class{'es' if len(unknown) > 1 else ''} {listed}; the land-cover map's "
                         f"classes are: {', '.join(names[v] for v in sorted(names))}", input)
    return sorted(found)


def _integral(value):
    return value is not None and np.isfinite(value) and float(value).is_integer()

