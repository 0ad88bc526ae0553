"""TrainAutoencoder: fit a change-detection model to a user's own image pairs."""

import re
import shutil
from pathlib import Path

from pywps.inout.literaltypes import ALLOWEDVALUETYPE, AllowedValue

from candela.errors import InputError
from candela.learning import training
from candela.learning.autoencoder import TrainingConfig
from candela.learning.models import MODEL_ID, available_models

from .base import CandelaProcess, InputProblem
from .models import model_directories, user_models_dir
from .wpsio import json_output, literal, raster_input

MAX_PAIRS = 50
DEFAULT_BANDS = "B02,B03,B04,B08"


class TrainAutoencoder(CandelaProcess):
    IDENTIFIER = "TrainAutoencoder"
    TITLE = "Train a change-detection autoencoder on your own image pairs"
    ABSTRACT = (
        "Trains the ChangeDetect autoencoder (no labels needed) on co-registered pairs of images of "
        "your region: the i-th 'before' image is paired with the i-th 'after' image. The model is "
        "saved on the server under the id you give and can then be used as ChangeDetect's 'model'. "
        "Training takes minutes: run it asynchronously (storeExecuteResponse=true, status=true) and "
        "follow its progress."
    )
    VERSION = "1.0.0"

    def inputs_(self):
        defaults = TrainingConfig()
        return [
            *raster_input("before", "Images before", "GeoTIFFs of the first dates.", max_occurs=MAX_PAIRS),
            *raster_input("after", "Images after", "GeoTIFFs of the second dates, in the same order.",
                          max_occurs=MAX_PAIRS),
            literal("model_id", "Model id", "Name of the new model: letters, digits, '-', '_', '.'; "
                    "it must not exist yet (nothing is overwritten)."),
            literal("bands", "Bands", "Comma-separated band names the model uses (band descriptions of "
                    "the images, else their order).", default=DEFAULT_BANDS),
            literal("epochs", "Epochs", f"Training epochs of {defaults.steps_per_epoch} steps.",
                    data_type="integer", default=defaults.epochs,
                    allowed_values=[AllowedValue(allowed_type=ALLOWEDVALUETYPE.RANGE, minval=1, maxval=200)]),
            literal("seed", "Seed", "Random seed (same seed, same data: same model).", data_type="integer",
                    default=defaults.seed),
        ]

    def outputs_(self):
        return [json_output("model", "Model metadata", "JSON: id, bands, normalisation, architecture, "
                            "training configuration, data and loss history of the new model.")]

    def run(self, job):
        model_id = job.literal("model_id")
        with job.blame("model_id"):
            model_id = check_new_model_id(model_id)
        with job.blame("bands"):
            bands = parse_bands(job.literal("bands") or DEFAULT_BANDS)
        epochs = int(job.literal("epochs") or TrainingConfig().epochs)
        seed = int(job.literal("seed") or 0)
        before = job.files("before", limit=MAX_PAIRS)
        after = job.files("after", limit=MAX_PAIRS)
        if not before:
            raise InputProblem("before", "required: give before or before_ref")
        if len(before) != len(after):
            raise InputProblem("after", f"{len(after)} images for {len(before)} 'before' images; "
                               "give one 'after' image per 'before' image")
        architecture = dict(TrainingConfig().architecture, bands=len(bands))
        config = TrainingConfig(architecture=architecture, epochs=epochs, seed=seed)
        pairs = [(first, second) for (_, first), (_, second) in zip(before, after)]
        data = dict(pairs=[[first, second] for (first, _), (second, _) in zip(before, after)],
                    description="images sent to TrainAutoencoder; no labels")
        folder = job.workdir / model_id
        with job.blame("before"):
            metadata = training.train_model(pairs, folder, config, model_id, bands, data, progress=job.progress,
                                            max_pixels=job.max_pixels)
        publish(folder, model_id)
        job.output_json("model", metadata)


def check_new_model_id(model_id):
    if not model_id or not MODEL_ID.fullmatch(model_id):
        raise InputError("give 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    if model_id in available_models(model_directories()):
        raise InputError(f"a model {model_id!r} exists already; choose another id")
    return model_id


def parse_bands(text):
    bands = [b.strip().upper() for b in re.split(r"[,\s]+", text) if b.strip()]
    if not bands or len(set(bands)) != len(bands):
        raise InputError("give distinct comma-separated band names, e.g. B02,B03,B04,B08")
    return bands


def publish(folder, model_id):
    """Move a trained model into the user models folder; an existing model is never replaced."""
    destination = Path(user_models_dir()) / model_id
    if destination.exists():
        raise InputProblem("model_id", f"a model {model_id!r} was saved meanwhile by another job; choose another id")
    shutil.move(str(folder), str(destination))
