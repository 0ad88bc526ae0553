"""TrainAutoencoder: fit a change-detection model to a user's own image pairs."""

import os
import re
import shutil
import tempfile
from pathlib import Path

from candela.learning import training
from candela.learning.autoencoder import TrainingConfig
from candela.learning.models import MODEL_ID, available_models
from candela.errors import InputError

from .declaration import FileInput, LiteralInput, Operation, Output
from .models import model_directories, user_models_dir

MAX_PAIRS = 50
DEFAULT_BANDS = "B02,B03,B04,B08"


def run(job):
    with job.blame("model_id"):
        model_id = check_new_model_id(job.literal("model_id"))
    with job.blame("bands"):
        bands = parse_bands(job.literal("bands"))
    before = job.files("before")
    after = job.files("after")
    if len(before) != len(after):
        raise InputError(f"{len(after)} images for {len(before)} 'before' images; give one 'after' image per "
                         "'before' image", "after")
    architecture = dict(TrainingConfig().architecture, bands=len(bands))
    config = TrainingConfig(architecture=architecture, epochs=job.literal("epochs"), seed=job.literal("seed"))
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
    """Move a trained model into the user models folder; an existing model is never replaced,
    not even one saved meanwhile by another job (the last step is one rename, which refuses a
    folder that is not empty)."""
    destination = Path(user_models_dir()) / model_id
    staging = Path(tempfile.mkdtemp(prefix=f".{model_id}-", dir=destination.parent))  # same file system
    shutil.copytree(folder, staging, dirs_exist_ok=True)
    try:
        os.rename(staging, destination)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(f"a model {model_id!r} was saved meanwhile by another job; choose another id",
                         "model_id") from None


OPERATION = Operation(
    identifier="TrainAutoencoder",
    title="Train a change-detection autoencoder on your own image pairs",
    abstract=(
        "Trains the ChangeDetect autoencoder (no labels needed) on co-registered pairs of images of "
        "your region: the i-th 'before' image is paired with the i-th 'after' image. The model is "
        "saved on the server under the id you give and can then be used as ChangeDetect's 'model'. "
        "Training takes minutes: run it asynchronously (storeExecuteResponse=true, status=true) and "
        "follow its progress."
    ),
    version="1.0.0",
    inputs=(
        FileInput("before", "Images before", "GeoTIFFs of the first dates.", max_occurs=MAX_PAIRS),
        FileInput("after", "Images after", "GeoTIFFs of the second dates, in the same order.", max_occurs=MAX_PAIRS),
        LiteralInput("model_id", "Model id", "Name of the new model: letters, digits, '-', '_', '.'; it must not "
                     "exist yet (nothing is overwritten)."),
        LiteralInput("bands", "Bands", "Comma-separated band names the model uses (band descriptions of the "
                     "images, else their order).", default=DEFAULT_BANDS),
        LiteralInput("epochs", "Epochs", f"Training epochs of {TrainingConfig().steps_per_epoch} steps.",
                     type="integer", default=TrainingConfig().epochs, minimum=1, maximum=200),
        LiteralInput("seed", "Seed", "Random seed (same seed, same data: same model).", type="integer",
                     default=TrainingConfig().seed),
    ),
    outputs=(
        Output("model", "Model metadata", "JSON: id, bands, normalisation, architecture, training "
               "configuration, data and loss history of the new model."),
    ),
    run=run,
    keywords=("autoencoder", "training", "change detection"),
)
