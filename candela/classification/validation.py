"""Accuracy estimated by spatially blocked cross-validation.

Pixels near each other look alike: a random split of pixels puts neighbours of every test
pixel in training and reports an accuracy no new area will see. Here the grid is cut into
square blocks; every sample (point or polygon, all its pixels) belongs to the block holding its
first pixel, and folds split blocks, never a block or a sample. The block side is the largest
of ``BLOCK_SIDES`` that still leaves at least ``BLOCKS_PER_FOLD`` occupied blocks per fold.
Folds are stratified by class as far as the blocks allow (scikit-learn's StratifiedGroupKFold).
"""

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from .model import FusionModel, combine

FOLDS = 5
BLOCK_SIDES = (128, 64, 32, 16, 8)
BLOCKS_PER_FOLD = 3


def sample_blocks(samples, side):
    """Block id of each pixel of ``samples``: that of its sample's first pixel."""
    first = {}
    for index, group in enumerate(samples.groups):
        first.setdefault(int(group), index)
    order = np.array([first[int(g)] for g in samples.groups])
    rows, cols = samples.rows[order] // side, samples.cols[order] // side
    return rows.astype("int64") * 1_000_003 + cols


def choose_blocks(samples):
    """``(side, block id per pixel)``: the largest side giving enough blocks for the folds."""
    for side in BLOCK_SIDES:
        blocks = sample_blocks(samples, side)
        if len(np.unique(blocks)) >= FOLDS * BLOCKS_PER_FOLD:
            return side, blocks
    return side, blocks


def folds(y, blocks, seed):
    """``[(train indexes, test indexes), ...]``, or ``[]`` when there are too few blocks."""
    count = min(FOLDS, len(np.unique(blocks)), int(np.bincount(y).max()))
    if count < 2:
        return []
    splitter = StratifiedGroupKFold(n_splits=count, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, blocks))


def out_of_fold(X, y, names, sensors, classes, splits, seed):
    """Out-of-fold class probabilities of every fusion the sensors allow, on the same folds:
    ``{fusion: (n, classes)}``. Decision fusion reuses the single-sensor forests."""
    present = [s for s in ("optical", "sar") if s in set(sensors)]
    kinds = present + (["features"] if len(present) == 2 else [])
    found = {kind: np.zeros((len(y), len(classes)), dtype="float32") for kind in kinds}
    for train, test in splits:
        for kind in kinds:
            model = FusionModel(kind, names, sensors, classes, seed).fit(X[train], y[train])
            found[kind][test] = model.predict_proba(X[test])
    if len(present) == 2:
        found["decision"] = combine([found["optical"], found["sar"]])
    return found


def scores(y, predicted, classes):
    """Overall accuracy, Cohen's kappa, per-class F1 and the confusion matrix (rows: truth)."""
    labels = np.arange(len(classes))
    f1 = f1_score(y, predicted, labels=labels, average=None, zero_division=0)
    return {
        "overall_accuracy": round(float((y == predicted).mean()), 4),
        "kappa": round(float(cohen_kappa_score(y, predicted, labels=labels)), 4),
        "f1": {name: round(float(v), 4) for name, v in zip(classes, f1)},
        "confusion_matrix": {"classes": list(classes),
                             "counts": confusion_matrix(y, predicted, labels=labels).tolist()},
    }


def cross_validate(X, y, samples, names, sensors, classes, seed):
    """The blocked cross-validation report: how it was split, and scores of every fusion."""
    side, blocks = choose_blocks(samples)
    splits = folds(y, blocks, seed)
    if not splits:
        return {"folds": 0, "note": "the samples lie in a single block: no accuracy can be estimated; "
                                    "label samples spread over the image"}
    probabilities = out_of_fold(X, y, names, sensors, classes, splits, seed)
    results = {kind: scores(y, p.argmax(axis=1), classes) for kind, p in probabilities.items()}
    best = max(results, key=lambda kind: (results[kind]["kappa"], kind == "features"))
    return {"folds": len(splits), "block_pixels": side, "blocks": int(len(np.unique(blocks))),
            "samples": int(len(np.unique(samples.groups))), "pixels": int(len(y)),
            "by_fusion": results, "best": best}
