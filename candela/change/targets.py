"""What a ChangeDetect map counts as change: any change, vegetation loss, or built-up change.

A target other than ``any`` multiplies the change probability ``p`` (from the feature
distance, :mod:`candela.change.changedetect`) by a gate ``g`` in [0, 1] computed from
spectral indices of each pixel on both dates: ``p_target = p * g`` (for vegetation loss, ``p``
first raised by the index drop's own evidence), still a probability in [0, 1], NaN where an
image has no data. The feature distance is computed on 2 x 2 pixel
cells from a neighbourhood of the encoder and interpolated back to pixels, so it spreads
over a pixel or two around a change; the gate is read from each pixel's own bands, so a
pixel whose own indices did not move gets a low ``p_target`` even beside a change.

Indices are normalised differences of reflectance (any common scale, radiometric offset
removed, as Jpeg2Tiff writes it): NDVI (B08, B04), NBR (B08, B12), NDMI (B08, B11), and
NDWI (McFeeters: B03, B08). Gates are logistic curves ``s(x) = 1 / (1 + exp(-(x - m) / w))``,
smooth so that no pixel's probability jumps at a threshold:

* ``any``: no gate; the map is the change probability itself.
* ``vegetation_loss`` (canopy loss: windthrow, clear-cut, bark-beetle die-off):
  ``g = s(drop - shift; 0.15, 0.04) * s(NDVI_before; 0.4, 0.05)``, where ``drop`` is the
  largest decrease from before to after among NDVI and, where both images have their bands,
  NBR and NDMI (which fall further than NDVI when a canopy dries or dies), and ``shift`` the
  scene's own drop (below). A drop of 0.15 gives
  one half, 0.25 gives 0.92, no drop 0.02; the second factor asks that the pixel was
  vegetated before (NDVI 0.4 gives one half, 0.55 gives 0.95), so that water or shadow
  appearing on bare ground (also an NDVI decrease) does not count. A large drop is canopy
  loss in its own right: ``p_target = g * (1 - (1 - p) * (1 - s(drop - shift; 0.3, 0.05)))``,
  the change probability raised to at least ``s(drop - shift; 0.3, 0.05)`` (0.88 at 0.4). The
  feature distance, on 2 x 2 cells from a neighbourhood, is diluted over a felled patch of
  a pixel or two; without this a windthrow in small patches would be mostly missed, and a
  drop of 0.3 lies far beyond an unchanged canopy's wobble between dates. ``shift`` is the
  scene's own drop, the first quartile of the drops of the pixels vegetated before (from a
  sample of the whole image, never below 0): a pair from two seasons, whose vegetation all
  browned, is not all canopy loss; the quartile, not the median, so that a tight crop around
  a storm, more than half of it felled, keeps its damage (only damage on more than three
  quarters of the vegetated ground would be taken for the season's). Vegetation gain, and any
  change on ground that was not vegetated, is gated out. Any vegetation counts, crops too
  (a harvest is a vegetation loss), and so do clouds, haze and snow in the after image:
  mask them first.
* ``urban`` (built-up change): vegetation and water changes gated out,
  ``g = (1 - s(NDVI_min; 0.4, 0.05)) * (1 - s(NDVI_max; 0.4, 0.05) * s(|dNDVI|; 0.15, 0.04))
  * (1 - s(NDWI_max; 0.3, 0.05))``, min and max being over the two dates: not vegetated on
  both dates (unchanged vegetation beside a change gets no share of it), not vegetated on
  either date with an NDVI change of more than about 0.15 (crops, felling, greening), and
  not water on either date. What remains are changes of ground neither vegetated nor water:
  roofs, paving, construction on bare ground. Building on a green field counts as a
  vegetation change and is gated out too, and unchanged built-up ground beside a change
  keeps its share of the spread-out probability. The water threshold is 0.3, not 0: roofs
  and shade reach a positive NDWI (in the winter top-of-atmosphere OSCD scenes of Paris,
  a tenth of all pixels lie above 0.24 to 0.28).
"""

import time

import numpy as np
from rasterio.enums import Resampling

from ..errors import InputError
from ..rasters.reading import read_masked

TARGETS = ("any", "vegetation_loss", "urban")
DEFAULT_TARGET = "any"

#: Normalised differences, as (band a, band b): (a - b) / (a + b).
INDICES = {"NDVI": ("B08", "B04"), "NBR": ("B08", "B12"), "NDMI": ("B08", "B11"), "NDWI": ("B03", "B08")}
#: An index change (decrease for vegetation_loss, either way for urban's NDVI) of this much
#: gives a gate of one half, 0.1 gives 0.22: meant to lie above the wobble of an unchanged
#: canopy's indices between dates (season, atmosphere, L1C against L2A).
CHANGE_MIDPOINT, CHANGE_WIDTH = 0.15, 0.04
#: An index drop of this much is canopy loss whatever the feature distance says (one half at
#: 0.3, 0.88 at 0.4; 0.15 gives 0.05).
LOSS_MIDPOINT, LOSS_WIDTH = 0.3, 0.05
#: The percentile of the vegetated pixels' drops taken as the scene's own.
SHIFT_PERCENTILE = 25
#: Side of the sample the scene's typical drop is taken from (pixels).
SAMPLE_SIDE = 512
#: NDVI from which a pixel counts as vegetated (one half at 0.4).
VEGETATED_MIDPOINT, VEGETATED_WIDTH = 0.4, 0.05
#: NDWI from which a pixel counts as water (one half at 0.3).
WATER_MIDPOINT, WATER_WIDTH = 0.3, 0.05

#: The indices each target's gate needs, and those it also uses where both images have their bands.
REQUIRED_INDICES = {"vegetation_loss": ("NDVI",), "urban": ("NDVI", "NDWI")}
OPTIONAL_INDICES = {"vegetation_loss": ("NBR", "NDMI"), "urban": ()}


def check_target(target):
    """The target named (case and blanks ignored; empty means ``any``), or an InputError."""
    name = (target or DEFAULT_TARGET).strip().lower()
    if name not in TARGETS:
        raise InputError(f"unknown target {str(target)[:30]!r}; use one of {', '.join(TARGETS)}", input="target")
    return name


def logistic(x, midpoint, width):
    """``1 / (1 + exp(-(x - midpoint) / width))``, float32."""
    values = np.asarray(x, dtype=np.float32)
    return (1 / (1 + np.exp(np.clip((midpoint - values) / np.float32(width), -60, 60)))).astype(np.float32)


def normalised_difference(bands, index):
    """``(a - b) / (a + b)`` of the bands of ``index`` (0 where both are 0: no signal)."""
    a, b = (bands[name] for name in INDICES[index])
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


def index_drop(before, after, indices):
    """The largest decrease from before to after among ``indices``."""
    return np.max([normalised_difference(before, i) - normalised_difference(after, i) for i in indices], axis=0)


def vegetation_loss(before, after, indices=("NDVI",), shift=0.0):
    """The vegetation-loss gate from the bands (dicts name: array) of both dates, the drop
    taken over ``indices``, beyond the scene's ``shift``; see the module."""
    vegetated = logistic(normalised_difference(before, "NDVI"), VEGETATED_MIDPOINT, VEGETATED_WIDTH)
    drop = index_drop(before, after, indices) - np.float32(shift)
    return logistic(drop, CHANGE_MIDPOINT, CHANGE_WIDTH) * vegetated


def canopy_loss(before, after, indices=("NDVI",), shift=0.0):
    """How far a pixel's own index drop, beyond the scene's ``shift``, is evidence of canopy
    loss by itself; see the module."""
    return logistic(index_drop(before, after, indices) - np.float32(shift), LOSS_MIDPOINT, LOSS_WIDTH)


def typical_drop(before, after, indices, valid):
    """The scene's drop: the first quartile (never below 0) of the drops of the ``valid`` pixels
    vegetated before (NDVI above 0.5); 0 when there are none."""
    vegetated = valid & (normalised_difference(before, "NDVI") > 0.5)
    if not vegetated.any():
        return 0.0
    return max(0.0, float(np.percentile(index_drop(before, after, indices)[vegetated], SHIFT_PERCENTILE)))


def urban(before, after, indices=("NDVI", "NDWI"), shift=0.0):
    """The built-up gate from the bands (dicts name: array) of both dates; see the module
    (``indices`` and ``shift``: for the call's sake; always NDVI and NDWI, no shift)."""
    ndvi = normalised_difference(before, "NDVI"), normalised_difference(after, "NDVI")
    ndwi = np.maximum(normalised_difference(before, "NDWI"), normalised_difference(after, "NDWI"))
    vegetated_both = logistic(np.minimum(*ndvi), VEGETATED_MIDPOINT, VEGETATED_WIDTH)
    vegetated_either = logistic(np.maximum(*ndvi), VEGETATED_MIDPOINT, VEGETATED_WIDTH)
    greenness_change = logistic(np.abs(ndvi[1] - ndvi[0]), CHANGE_MIDPOINT, CHANGE_WIDTH)
    water = logistic(ndwi, WATER_MIDPOINT, WATER_WIDTH)
    return (1 - vegetated_both) * (1 - vegetated_either * greenness_change) * (1 - water)


GATES = {"vegetation_loss": vegetation_loss, "urban": urban}
#: Evidence of a target from the indices alone, which raises the change probability it gates.
EVIDENCE = {"vegetation_loss": canopy_loss}


class Gate:
    """A target's gate over windows of two images on one grid (NaN where either has no data).

    Bands are found by their descriptions, else, for unnamed bands, in ``model_bands``'
    order (as ChangeDetect reads them). ``first`` and ``second`` are the opened rasters (for
    their band names), ``seen`` the second on the first's grid. ``shift`` is the scene's drop
    (:meth:`_typical_drop`, read from the images when not given).
    """

    def __init__(self, target, first, second, seen, model_bands, timings, shift=None):
        self.target = target
        self.rule, self.evidence, self.timings = GATES[target], EVIDENCE.get(target), timings
        names = [_band_names(first, model_bands), _band_names(second, model_bands)]
        required = _bands_of(REQUIRED_INDICES[target])
        for input_name, found in zip(("before", "after"), names):
            missing = [band for band in required if band not in found]
            if missing:
                raise InputError(f"target {target!r} needs bands {', '.join(required)}; the raster has "
                                 f"{', '.join(n or '?' for n in found) or 'unnamed bands'} (missing "
                                 f"{', '.join(missing)})", input=input_name)
        optional = [i for i in OPTIONAL_INDICES[target] if all(b in n for n in names for b in INDICES[i])]
        # The indices the gate reads: the summary's target_indices.
        self.indices = REQUIRED_INDICES[target] + tuple(optional)
        self.bands = _bands_of(self.indices)
        self.sources = [(first, [names[0].index(b) + 1 for b in self.bands]),
                        (seen, [names[1].index(b) + 1 for b in self.bands])]
        # ``shift``: the scene's drop when already known (a window task rebuilding the gate).
        if shift is None:
            shift = self._typical_drop() if target == "vegetation_loss" else 0.0
        self.shift = shift

    def _typical_drop(self):
        """:func:`typical_drop` over a sample of both whole images (every n-th pixel, at most
        SAMPLE_SIDE² of them): the same whatever the processing window."""
        first = self.sources[0][0]
        step = max(1, -(-max(first.width, first.height) // SAMPLE_SIDE))
        shape = (len(self.bands), -(-first.height // step), -(-first.width // step))
        dates, valid = [], None
        for dataset, indexes in self.sources:
            data = dataset.read(indexes, out_shape=shape, masked=True, out_dtype="float32",
                                resampling=Resampling.nearest)
            ok = ~np.ma.getmaskarray(data).any(axis=0) & np.isfinite(np.ma.getdata(data)).all(axis=0)
            dates.append(dict(zip(self.bands, np.ma.getdata(data))))
            valid = ok if valid is None else valid & ok
        return typical_drop(dates[0], dates[1], self.indices, valid)

    def __call__(self, probability, window):
        """The target's probability over ``window`` from the change ``probability`` there, float32."""
        started = time.perf_counter()
        dates, valid = [], None
        for dataset, indexes in self.sources:
            values, ok = read_masked(dataset, indexes, window)
            dates.append(dict(zip(self.bands, values)))
            valid = ok if valid is None else valid & ok
        self.timings["reading"] += time.perf_counter() - started
        if self.evidence is not None:
            evidence = self.evidence(dates[0], dates[1], self.indices, self.shift)
            probability = 1 - (1 - probability) * (1 - evidence)
        gated = (probability * self.rule(dates[0], dates[1], self.indices, self.shift)).astype(np.float32)
        gated[~valid] = np.nan
        return gated


def _bands_of(indices):
    return tuple(sorted({band for index in indices for band in INDICES[index]}))


def _band_names(dataset, model_bands):
    descriptions = [(d or "").strip().upper() for d in dataset.descriptions]
    if any(descriptions):
        return descriptions
    return list(model_bands) if dataset.count == len(model_bands) else []
