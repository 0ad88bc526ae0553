"""The classifier: random forests over the features, fused at feature or decision level.

- ``features``: one forest over the features of both sensors, concatenated;
- ``decision``: one forest per sensor, their class probabilities combined by a normalised
  product (each sensor's evidence counted as independent), after smoothing each toward
  uniform by ``SMOOTHING``, so that one forest's zero cannot veto what the other is sure of;
- ``optical``, ``sar``: one sensor alone, the baselines fusion is measured against.

Random forests (scikit-learn): robust to unscaled, correlated features of mixed units, fast
to train on the few thousand pixels a user labels, and fast to apply (bounded depth) to a
full tile. Classes are indexes into ``classes`` (their names, sorted).
"""

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from ..rasters.env import gdal_threads

SENSORS = ("optical", "sar")
TREES = 50
#: Trees and depth bound the time to classify a full tile (each pixel walks TREES paths at most this
#: long): with trees grown to this depth, 3.4 min for 10980 x 10980 pixels on 2 cores (docs/benchmarks.md).
MAX_DEPTH = 14
SMOOTHING = 0.02


def threads():
    """Cores the forests may use: as many as GDAL may (:func:`~candela.rasters.env.gdal_threads`),
    in scikit-learn's terms (-1: all)."""
    value = gdal_threads()
    return int(value) if value.isdigit() and int(value) > 0 else -1


def new_forest(seed):
    return RandomForestClassifier(n_estimators=TREES, max_depth=MAX_DEPTH, class_weight="balanced",
                                  n_jobs=threads(), random_state=seed)


def parts_of(fusion, sensors):
    """``{part: column indexes}`` of a fusion over columns from ``sensors`` (one name per column)."""
    sensors = np.asarray(sensors)
    if fusion == "features":
        return {"features": np.arange(len(sensors))}
    wanted = SENSORS if fusion == "decision" else (fusion,)
    return {sensor: np.flatnonzero(sensors == sensor) for sensor in wanted}


def combine(probabilities):
    """The normalised product of several (n, classes) probability arrays, each smoothed."""
    combined = None
    for p in probabilities:
        p = (1 - SMOOTHING) * p + SMOOTHING / p.shape[1]
        combined = p if combined is None else combined * p
    return combined / combined.sum(axis=1, keepdims=True)


class FusionModel:
    """A fitted classifier of one fusion kind over named feature columns."""

    def __init__(self, fusion, names, sensors, classes, seed=0):
        self.fusion = fusion
        self.names = list(names)
        self.sensors = list(sensors)
        self.classes = list(classes)
        self.seed = seed
        self.parts = parts_of(fusion, sensors)
        self.forests = {}

    def fit(self, X, y):
        """Fit on features ``X`` (n, columns) and class indexes ``y``."""
        for part, columns in self.parts.items():
            self.forests[part] = new_forest(self.seed).fit(X[:, columns], y)
        return self

    def part_probabilities(self, X):
        """``{part: (n, classes) probabilities}`` of each forest."""
        found = {}
        for part, columns in self.parts.items():
            forest = self.forests[part]
            p = np.zeros((len(X), len(self.classes)), dtype="float32")
            if len(X):
                p[:, forest.classes_] = forest.predict_proba(X[:, columns])  # a fold may miss a class
            found[part] = p
        return found

    def predict_proba(self, X):
        """(n, classes) class probabilities."""
        parts = self.part_probabilities(X)
        if len(parts) == 1:
            return next(iter(parts.values()))
        return combine(parts.values()).astype("float32")

    def importances(self):
        """``{part: {feature: importance}}``, most important first."""
        found = {}
        for part, columns in self.parts.items():
            pairs = zip((self.names[c] for c in columns), self.forests[part].feature_importances_)
            found[part] = {name: round(float(v), 4) for name, v in sorted(pairs, key=lambda p: -p[1])}
        return found
