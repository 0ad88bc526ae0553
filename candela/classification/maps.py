"""Writing the classification and confidence maps, window by window, as Cloud Optimized GeoTIFFs.

The classification is uint8: 0 is no data, class ``i`` (0-based in the sorted class names) is
``i + 1``. Its colour table gives each class a colour (land-cover words get their usual ones:
forest green, water blue, ...), and its metadata holds the class names (tags ``CLASSES``, a
JSON list, and ``CLASS_<value>``), so QGIS shows the classes without a style file.
"""

import json
import re
from pathlib import Path

import numpy as np
import rasterio

from ..rasters.env import gdal_threads
from ..rasters.geotiff import BLOCKSIZE, float_profile, overview_factors, write_cog

NODATA_CLASS = 0
MAX_CLASSES = 254
#: Usual colours of land-cover words (matched in class names, first match wins).
USUAL_COLOURS = (
    (r"conifer", (0, 96, 40)), (r"forest|wood|tree", (30, 140, 50)), (r"shrub|heath|moor", (150, 170, 60)),
    (r"water|lake|river|sea|pond", (40, 110, 220)), (r"wet|marsh|bog|peat", (100, 180, 190)),
    (r"urban|built|city|town|road|artificial|industr", (210, 50, 40)),
    (r"crop|arable|field|agri|maize|wheat|cereal", (240, 210, 60)),
    (r"grass|meadow|pasture|lawn", (150, 220, 90)), (r"bare|soil|sand|rock|quarry", (170, 120, 70)),
    (r"snow|ice|glacier", (240, 240, 250)), (r"cloud", (200, 200, 200)),
)
#: Colours for the other classes, in turn (qualitative, distinguishable).
PALETTE = ((228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0), (255, 255, 51),
           (166, 86, 40), (247, 129, 191), (153, 153, 153), (102, 194, 165), (252, 141, 98), (141, 160, 203))


#: Shades tried when a usual colour is already another class's (two kinds of soil, say).
SHADES = (1.0, 0.65, 1.35, 0.45, 1.6)


def class_colours(classes):
    """``{value: (r, g, b, a)}`` for the classification's colour table, one colour per class."""
    table = {NODATA_CLASS: (0, 0, 0, 0)}
    spare = iter(PALETTE * (1 + len(classes) // len(PALETTE)))
    for value, name in enumerate(classes, 1):
        usual = next((rgb for pattern, rgb in USUAL_COLOURS if re.search(pattern, name, re.IGNORECASE)), None)
        shades = [tuple(min(255, round(c * shade)) for c in usual) for shade in SHADES] if usual else []
        colour = next((rgb for rgb in shades if (*rgb, 255) not in table.values()), None)
        while colour is None or (*colour, 255) in table.values():
            colour = next(spare, None) or tuple(int(c) for c in np.random.default_rng(value).integers(0, 256, 3))
        table[value] = (*colour, 255)
    return table


def class_tags(classes):
    return {"CLASSES": json.dumps(list(classes)), **{f"CLASS_{v}": name for v, name in enumerate(classes, 1)}}


class MapWriter:
    """The two maps of a classification, written window by window, then copied to COGs."""

    def __init__(self, grid, folder, classes, tags):
        self.folder = Path(folder)
        self.grid, self.classes = grid, list(classes)
        self.paths = {"classification": self.folder / "classification.tif",
                      "confidence": self.folder / "confidence.tif"}
        common = dict(tiled=True, blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE, BIGTIFF="IF_SAFER")
        threads = gdal_threads()
        self.classification = rasterio.open(
            self.folder / "classification.partial.tif", "w", NUM_THREADS=threads,
            **grid.profile(driver="GTiff", dtype="uint8", count=1, nodata=NODATA_CLASS, compress="deflate", **common))
        self.confidence = rasterio.open(self.folder / "confidence.partial.tif", "w", NUM_THREADS=threads,
                                        **float_profile(grid, blocksize=BLOCKSIZE))
        self.classification.write_colormap(1, class_colours(self.classes))
        self.classification.descriptions = ("class",)
        self.classification.update_tags(**tags, **class_tags(self.classes))
        self.confidence.descriptions = ("confidence",)
        self.confidence.update_tags(**tags, MEANING="probability of the class chosen, by the classifier")
        self.counts = np.zeros(len(self.classes) + 1, dtype=np.int64)

    def write(self, window, probabilities, valid):
        """Write one window from its pixels' class ``probabilities`` (valid pixels only, row by row)."""
        shape = (int(window.height), int(window.width))
        classes = np.zeros(shape[0] * shape[1], dtype="uint8")
        confidence = np.full(shape[0] * shape[1], np.nan, dtype="float32")
        if len(probabilities):
            classes[valid] = probabilities.argmax(axis=1) + 1
            confidence[valid] = probabilities.max(axis=1)
        self.counts += np.bincount(classes, minlength=len(self.counts))
        self.classification.write(classes.reshape(shape), 1, window=window)
        self.confidence.write(confidence.reshape(shape), 1, window=window)

    def finish(self):
        """Close the maps, add overviews (classes by mode, confidence by average), copy to COGs."""
        factors = overview_factors(self.grid.width, self.grid.height)
        for dataset, resampling in ((self.classification, "mode"), (self.confidence, "average")):
            if factors:
                dataset.build_overviews(factors, getattr(rasterio.enums.Resampling, resampling))
            dataset.close()
        for name in self.paths:
            partial = self.folder / f"{name}.partial.tif"
            write_cog(partial, self.paths[name])
            partial.unlink()
        return {name: str(path) for name, path in self.paths.items()}

    def areas(self):
        """Pixels of each class, and of no data."""
        return {"no_data": int(self.counts[0]),
                **{name: int(count) for name, count in zip(self.classes, self.counts[1:])}}

    def close(self):
        for dataset in (self.classification, self.confidence):
            if not dataset.closed:
                dataset.close()
