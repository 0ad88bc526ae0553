"""Train a change-detection autoencoder on image pairs, and save it as a model folder.

A model folder holds ``encoder.weights.h5`` and ``metadata.json`` (bands, normalisation,
architecture, training configuration and data, date, and evaluation figures when known).

The shipped model is reproduced with::

    python -m candela.learning.training --config models/oscd-ae-v1/config.json \\
        --oscd ../shared/data/oscd --output models/oscd-ae-v1
"""

import argparse
import json
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from ..change.pairs import Pair
from ..change.statistics import band_statistics, read_samples
from ..datasets import oscd
from ..errors import InputError
from ..rasters.grid import Grid, aligned
from ..rasters.reading import MAX_PIXELS, band_indexes, open_raster
from . import autoencoder
from .autoencoder import TrainingConfig, halo
from .models import BAND_WEIGHT

NORMALISATION = (
    "per image and band: (value - mean) / std over the pixels valid in both images of the pair "
    "(a fixed sample of up to 4 Mpx); no fixed constants, so L1C and L2A inputs both work"
)


def collect_patches(pairs, bands, config, rng, progress=None, max_pixels=MAX_PIXELS):
    """Co-located standardised patches from (before, after) raster paths: ``(n, 2, span, span, bands)``."""
    span = config.patch + 2 * halo(config.architecture)
    patches = []
    for number, (before, after) in enumerate(pairs, start=1):
        with open_raster(before, max_pixels=max_pixels) as first, \
                open_raster(after, max_pixels=max_pixels) as second:
            grid = Grid.of(first)
            first_bands = band_indexes(first, bands)
            second_bands = band_indexes(second, bands)
            with aligned(second, grid) as seen:
                pair = Pair(first, first_bands, seen, second_bands, dict(reading=0.0))
                mean, std = band_statistics(read_samples(pair, grid))
                patches.extend(_patches_of(pair, grid, mean, std, span, config.patches_per_image, rng))
        if progress:
            progress(number / len(pairs), f"Read pair {number} of {len(pairs)}")
    if not patches:
        raise InputError(f"no {span} x {span} pixel patch valid in both images of any pair")
    return np.stack(patches).astype(np.float32)


def _patches_of(pair, grid, mean, std, span, count, rng):
    if grid.width < span or grid.height < span:
        return []
    found = []
    for _ in range(count * 4):
        row = int(rng.integers(0, grid.height - span + 1))
        col = int(rng.integers(0, grid.width - span + 1))
        first, second, valid = pair.read(Window(col, row, span, span))
        if not valid.all():
            continue
        images = [(image - mean[i][:, None, None]) / std[i][:, None, None] for i, image in enumerate((first, second))]
        found.append(np.moveaxis(np.stack(images), 1, -1))
        if len(found) == count:
            break
    return found


def train_model(pairs, folder, config, model_id, bands, training_data, progress=None, max_pixels=MAX_PIXELS):
    """Train on ``pairs`` of raster paths and write the model folder; returns its metadata.

    Rasters of more than ``max_pixels`` (width x height x bands) are refused before any work.
    """
    folder = Path(folder)
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)

    def reading(fraction, message):
        if progress:
            progress(0.1 * fraction, message)

    def fitting(fraction, message):
        if progress:
            progress(0.1 + 0.9 * fraction, message)

    patches = collect_patches(pairs, bands, config, rng, reading, max_pixels)
    encoder, history = autoencoder.train(patches, config, fitting)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_weights(str(folder / "encoder.weights.h5"))
    metadata = dict(
        id=model_id,
        bands=list(bands),
        normalisation=NORMALISATION,
        architecture=config.architecture,
        features_per_cell=f"{config.architecture['features']} features per 2 x 2 pixel cell",
        comparison=dict(
            band_weight=BAND_WEIGHT,
            description="distance between per-image standardised [encoder features, cell-mean "
                        "standardised bands], each band weighing band_weight, each feature 1",
        ),
        receptive_field_px=2 * halo(config.architecture) + 2,
        training=dict(
            config=config.as_dict(),
            data=training_data,
            pairs=len(pairs),
            patches=int(len(patches)),
            history=[{k: round(float(v), 5) for k, v in entry.items()} for entry in history],
            seconds=round(time.perf_counter() - started, 1),
            date=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            software=dict(python=platform.python_version(), tensorflow=_tensorflow_version()),
        ),
    )
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def _tensorflow_version():
    import tensorflow as tf

    return tf.__version__


def oscd_pairs(root, directory, cities=None):
    """Write each OSCD city's two dates as 4-band GeoTIFFs in ``directory``; returns the path pairs."""
    pairs = []
    for city in cities or oscd.cities(root):
        first = Path(directory) / f"{city}_1.tif"
        second = Path(directory) / f"{city}_2.tif"
        oscd.write_stack(root, city, 1, first, dtype="float32")
        oscd.write_stack(root, city, 2, second, dtype="float32")
        pairs.append((first, second))
    return pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the change-detection autoencoder on OSCD images (no labels).")
    parser.add_argument("--config", required=True, help="training configuration (JSON)")
    parser.add_argument("--oscd", required=True, help="the OSCD dataset folder (images/, labels/)")
    parser.add_argument("--output", required=True, help="model folder to write")
    parser.add_argument("--cities", help="comma-separated cities (default: all 17, labelled ones included)")
    args = parser.parse_args(argv)
    config = TrainingConfig.from_file(args.config)
    cities = args.cities.split(",") if args.cities else oscd.cities(args.oscd)
    output = Path(args.output)
    data = dict(
        dataset="Onera Satellite Change Detection (OSCD), Sentinel-2 L1C, Daudt et al. 2018",
        images="both dates of every city listed; images only, change labels never read",
        cities=list(cities),
        bands=list(oscd.BANDS),
    )
    with tempfile.TemporaryDirectory() as directory:
        pairs = oscd_pairs(args.oscd, directory, cities)
        metadata = train_model(pairs, output, config, output.name, oscd.BANDS, data,
                               progress=lambda f, m: print(f"{f:6.1%} {m}", flush=True))
    print(json.dumps(metadata["training"]["history"][-1]))


if __name__ == "__main__":
    main()
