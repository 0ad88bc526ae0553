"""The features a pixel is classified by, all defined here.

Optical (each Sentinel-2 image):

- reflectances of the bands it has (``B02`` ... ``B12``; integer rasters are divided by 10000);
- normalised differences where their bands exist: ``NDVI`` (B08, B04: green vegetation),
  ``NDWI`` (B03, B08: open water, McFeeters), ``NDMI`` (B08, B11: vegetation moisture),
  ``NBR`` (B08, B12: burnt or bare ground);
- ``NDVI_std``: the standard deviation of NDVI over the texture window (field edges, forest
  canopy against fields).

SAR (each Sentinel-1 image, from linear sigma nought):

- ``VV_dB``, ``VH_dB``: the backscatter in decibels;
- ``VV_VH_dB``: their difference, the ratio VV/VH in decibels (volume scattering lowers it);
- ``VV_mean_dB``, ``VH_mean_dB``, ``VV_VH_mean_dB``: the same from the mean intensity over the
  texture window (a multilook, which tames speckle);
- ``VV_var``, ``VH_var``: the variance over the window divided by the squared mean, a
  texture free of the backscatter level (about 1/ENL on homogeneous ground, more over
  heterogeneous ground such as forest edges or towns).

The texture window is ``TEXTURE`` x ``TEXTURE`` pixels; its statistics use the valid pixels
in it. With several images of one sensor (a time series), each image's features are
prefixed by its rank in time: ``t1_NDVI``, ``t2_NDVI``. A pixel is valid where every image is
(no data, and clouds by SCL, are invalid): invalid pixels are left out of training and
classified as no data.
"""

import numpy as np
from rasterio.windows import Window
from scipy.ndimage import uniform_filter

from .inputs import OPTICAL_BANDS

TEXTURE = 5
HALO = TEXTURE // 2
#: Normalised differences (a - b) / (a + b), by name.
INDICES = {"NDVI": ("B08", "B04"), "NDWI": ("B03", "B08"), "NDMI": ("B08", "B11"), "NBR": ("B08", "B12")}
SAR_FEATURES = ("VV_dB", "VH_dB", "VV_VH_dB", "VV_mean_dB", "VH_mean_dB", "VV_VH_mean_dB", "VV_var", "VH_var")


def optical_names(bands):
    """Feature names of one optical image with ``bands``."""
    names = [band for band in OPTICAL_BANDS if band in bands]
    names += [index for index, (a, b) in INDICES.items() if a in bands and b in bands]
    return names + (["NDVI_std"] if "NDVI" in names else [])


def normalised_difference(a, b):
    """(a - b) / (a + b), 0 where both are 0."""
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total != 0)


def local_mean(values, valid):
    """Mean of the valid values over the texture window around each pixel (NaN where none is)."""
    weights = uniform_filter(valid.astype("float64"), TEXTURE, mode="constant")
    sums = uniform_filter(np.where(valid, values, 0).astype("float64"), TEXTURE, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weights > 1e-9, sums / weights, np.nan)


def to_db(values):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(values)


def optical_features(bands, valid):
    """``{name: values}`` of one optical image's reflectances ``{band: values}``."""
    features = {band: bands[band] for band in OPTICAL_BANDS if band in bands}
    for index, (a, b) in INDICES.items():
        if a in bands and b in bands:
            features[index] = normalised_difference(bands[a], bands[b])
    if "NDVI" in features:
        ndvi = features["NDVI"]
        mean = local_mean(ndvi, valid)
        square = local_mean(ndvi.astype("float64") ** 2, valid)
        features["NDVI_std"] = np.sqrt(np.maximum(square - mean**2, 0))
    return features


def sar_features(bands, valid):
    """``{name: values}`` of one SAR image's linear intensities ``{"VV": ..., "VH": ...}``."""
    features = {}
    means = {}
    for band in ("VV", "VH"):
        values = bands[band]
        means[band] = local_mean(values, valid)
        square = local_mean(values.astype("float64") ** 2, valid)
        features[f"{band}_dB"] = to_db(values)
        with np.errstate(divide="ignore", invalid="ignore"):
            features[f"{band}_var"] = np.maximum(square - means[band] ** 2, 0) / means[band] ** 2
    features["VV_mean_dB"], features["VH_mean_dB"] = to_db(means["VV"]), to_db(means["VH"])
    with np.errstate(invalid="ignore"):  # -inf - -inf where a pixel is invalid (dropped later)
        features["VV_VH_dB"] = features["VV_dB"] - features["VH_dB"]
        features["VV_VH_mean_dB"] = features["VV_mean_dB"] - features["VH_mean_dB"]
    return {name: features[name] for name in SAR_FEATURES}


def in_time(image):
    """Sort key: images in time order, undated ones last (in the order given)."""
    return (image.time is None, image.time.timestamp() if image.time else 0)


class FeatureStack:
    """The features of a set of images on one grid, read window by window.

    ``names`` lists the columns; ``sensors`` says which sensor each comes from.
    """

    def __init__(self, optical, sar):
        optical, sar = sorted(optical, key=in_time), sorted(sar, key=in_time)
        self.images = [*optical, *sar]
        self.columns = []  # (image, feature of the image, column name)
        for images, names_of in ((optical, lambda image: optical_names(image.bands)),
                                 (sar, lambda image: list(SAR_FEATURES))):
            for rank, image in enumerate(images, 1):
                prefix = f"t{rank}_" if len(images) > 1 else ""
                self.columns += [(image, name, prefix + name) for name in names_of(image)]
        self.names = [column for _, _, column in self.columns]
        self.sensors = np.array([image.sensor for image, _, _ in self.columns])

    def read(self, window):
        """``(X, valid)``: the features of the pixels of ``window`` row by row, as an
        (n_pixels, n_features) float32 array, and whether each pixel is valid."""
        rows, cols = int(window.height), int(window.width)
        halo = Window(window.col_off - HALO, window.row_off - HALO, cols + 2 * HALO, rows + 2 * HALO)
        inner = (slice(HALO, HALO + rows), slice(HALO, HALO + cols))
        X = np.empty((rows * cols, len(self.columns)), dtype="float32")
        valid = np.ones((rows, cols), dtype=bool)
        computed = {}
        for image in self.images:
            bands, image_valid = image.read(halo)
            compute = optical_features if image.sensor == "optical" else sar_features
            computed[id(image)] = compute(bands, image_valid)
            valid &= image_valid[inner]
        for column, (image, name, _) in enumerate(self.columns):
            X[:, column] = computed[id(image)][name][inner].ravel()
        valid = valid.ravel() & np.isfinite(X).all(axis=1)
        X[~valid] = 0
        return X, valid
