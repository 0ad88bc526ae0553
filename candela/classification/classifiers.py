"""Classifiers saved on the server, under an id, for classifying new images without retraining.

A fitted model is a pickle (joblib), and loading a pickle runs code: so models are only ever
written here, by the server, and read back by id. No request can send one; an id is a UUID
checked as such before it becomes a file name. The metadata (classes, features, fusion,
training provenance and accuracy) lies beside it as JSON, readable without unpickling.
"""

import json
import os
import re
import uuid
from pathlib import Path

import joblib

from ..errors import InputError

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def save_classifier(folder, model, metadata):
    """Save ``model`` with ``metadata``; return the new id."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_id = str(uuid.uuid4())
    metadata = {"id": model_id, **metadata}
    for suffix, write in ((".joblib", lambda path: joblib.dump(model, path, compress=3)),
                          (".json", lambda path: path.write_text(json.dumps(metadata, indent=2)))):
        partial = folder / f"{model_id}{suffix}.partial"
        write(partial)
        os.replace(partial, folder / f"{model_id}{suffix}")  # never a half-written model under its id
    return model_id


def classifier_metadata(folder, model_id):
    """The metadata of a saved classifier; InputError (blaming ``model``) for an unknown id."""
    path = _path(folder, model_id, ".json")
    return json.loads(path.read_text())


def load_classifier(folder, model_id):
    """``(model, metadata)`` of a saved classifier."""
    metadata = classifier_metadata(folder, model_id)
    return joblib.load(_path(folder, model_id, ".joblib")), metadata


def _path(folder, model_id, suffix):
    text = str(model_id).strip().lower()
    path = Path(folder) / f"{text}{suffix}"
    if not _ID.match(text) or not path.is_file():
        raise InputError(f"no classifier {str(model_id)[:60]!r} on this server (give the id a FusionClassify "
                         "run returned in its model output)", "model")
    return path
