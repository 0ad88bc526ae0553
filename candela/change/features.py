"""What ChangeDetect compares between the two dates: standardised bands, or encoded features."""

import time

import numpy as np

from ..learning.autoencoder import STRIDE


class RawFeatures:
    """The standardised bands themselves, at full resolution."""

    name = "raw"
    cell = 1
    halo = 0
    weights = None

    def __call__(self, images, valid):
        return [np.moveaxis(image, 0, -1) for image in images]


class EncodedFeatures:
    """Encoder features on 2 x 2 cells, followed by the cells' mean standardised bands.

    The learned features see a neighbourhood; the band means keep the plain spectral
    difference the encoder may blur. In the distance the band means weigh ``band_weight``
    each, a learned feature 1 (so by default the two halves weigh the same).
    """

    name = "autoencoder"
    cell = STRIDE

    def __init__(self, model, timings):
        self.encoder = model.encoder()
        self.halo = self.encoder.halo
        self.timings = timings
        learned = model.metadata["architecture"]["features"]
        self.weights = np.concatenate([np.ones(learned), np.full(len(model.bands), model.band_weight)]).astype(np.float32)

    def __call__(self, images, valid):
        started = time.perf_counter()
        batch = np.stack([np.moveaxis(image, 0, -1) for image in images])
        encoded = self.encoder.encode(batch)
        self.timings["encoding"] += time.perf_counter() - started
        rows, cols = encoded.shape[1:3]
        core = batch[:, self.halo:self.halo + 2 * rows, self.halo:self.halo + 2 * cols]
        means = core.reshape(2, rows, 2, cols, 2, -1).mean(axis=(2, 4))
        features = np.concatenate([encoded, means], axis=-1)
        return [features[0], features[1]]


def features_for(method, model, timings):
    """The features of ``method`` (``"autoencoder"`` or ``"raw"``)."""
    return EncodedFeatures(model, timings) if method == "autoencoder" else RawFeatures()
