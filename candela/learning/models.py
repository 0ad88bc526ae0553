"""Change-detection models: where they live, which there are, and loading one.

A model folder ``<id>/`` holds ``encoder.weights.h5`` and ``metadata.json`` (bands,
normalisation, architecture, training configuration and data, date, evaluation figures).
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from . import autoencoder

DEFAULT_MODEL = "oscd-ae-v1"
#: Model ids are folder names: letters, digits, '-', '_' and '.', not starting with a dot.
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Default weight of the cell-mean bands in the feature distance (see
#: :class:`candela.change.features.EncodedFeatures`): chosen
#: on the labelled OSCD cities among 1, 2, 4, 8 and 16 (best AUROC).
BAND_WEIGHT = 4.0


def models_dir():
    """Where the shipped models are: ``$CANDELA_MODELS``; else ``candela/models`` inside an
    installed package (the wheel carries the repository's ``models/`` there); else the
    repository's top-level ``models/`` (a checkout)."""
    if os.environ.get("CANDELA_MODELS"):
        return Path(os.environ["CANDELA_MODELS"])
    package = Path(__file__).resolve().parents[1]
    installed = package / "models"
    return installed if installed.is_dir() else package.parent / "models"


@dataclass
class Model:
    """A trained model: its id, metadata and weights file."""

    id: str
    metadata: dict
    weights: Path

    @property
    def bands(self):
        return tuple(self.metadata["bands"])

    @property
    def band_weight(self):
        """Weight of each cell-mean band against a learned feature in the distance."""
        return float(self.metadata.get("comparison", {}).get("band_weight", BAND_WEIGHT))

    def encoder(self):
        return autoencoder.Encoder(self.metadata["architecture"], self.weights)


def available_models(directories=None):
    """Ids of the models in ``directories`` (default: :func:`models_dir`)."""
    found = set()
    for directory in _directories(directories):
        found.update(p.parent.name for p in Path(directory).glob("*/metadata.json")
                     if (p.parent / "encoder.weights.h5").exists())
    return sorted(found)


def load_model(model_id=None, directories=None):
    """The model ``model_id`` (default :data:`DEFAULT_MODEL`), looked up in ``directories`` in
    order (default: :func:`models_dir`); an unknown id is an InputError listing the models of the
    first directory only, the shipped ones: the others may hold models users trained, whose ids
    are not for every client to see."""
    model_id = (model_id or DEFAULT_MODEL).strip()
    directories = _directories(directories)
    for directory in directories:
        folder = Path(directory) / model_id
        if MODEL_ID.fullmatch(model_id) and (folder / "metadata.json").exists() and (folder / "encoder.weights.h5").exists():
            metadata = json.loads((folder / "metadata.json").read_text())
            return Model(model_id, metadata, folder / "encoder.weights.h5")
    shipped = available_models(directories[:1])
    raise InputError(f"unknown model {model_id!r}; shipped models: {', '.join(shipped) or 'none'} "
                     "(a model trained by a user must be named exactly)")


def _directories(directories):
    if directories is None:
        return [models_dir()]
    if isinstance(directories, (str, Path)):
        return [directories]
    return list(directories)
