"""Figures of merit of a change score against a change label: AUROC, AP, block correlation.

Every function takes a score array and a label array of the same shape (True / 1 = change);
pixels whose score is NaN are left out. Higher scores mean "more likely changed".
"""

import numpy as np
from scipy.stats import rankdata

#: Side, in pixels, of the blocks of :func:`block_correlation`.
BLOCK = 16


def auroc(scores, labels):
    """Area under the ROC curve: the chance that a changed pixel outscores an unchanged one.

    Rank-based (Mann-Whitney U), ties counted one half. ValueError without both classes.
    """
    return _auroc(*_valid(scores, labels))


def _auroc(values, truth):
    """:func:`auroc` of flat scores and bool labels already filtered by :func:`_valid`."""
    positives = int(truth.sum())
    negatives = truth.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUROC needs both changed and unchanged pixels")
    ranks = rankdata(values)  # ties get their average rank
    u = ranks[truth].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def average_precision(scores, labels):
    """Average precision: the sum over thresholds of (R_n - R_n-1) P_n, as scikit-learn computes it.

    Thresholds are the distinct scores, high to low (tied pixels count as one step);
    R_0 = 0. ValueError without changed pixels.
    """
    return _ap(*_valid(scores, labels))


def _ap(values, truth):
    """:func:`average_precision` of flat scores and bool labels already filtered by :func:`_valid`."""
    positives = int(truth.sum())
    if positives == 0:
        raise ValueError("average precision needs changed pixels")
    order = np.argsort(-values, kind="stable")
    values, truth = values[order], truth[order]
    true_positives = np.cumsum(truth, dtype=np.float64)
    # The last pixel of each run of equal scores closes one threshold.
    ends = np.r_[np.flatnonzero(np.diff(values)), values.size - 1]
    true_positives = true_positives[ends]
    precision = true_positives / (ends + 1)
    recall = true_positives / positives
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def block_correlation(scores, labels, block=BLOCK):
    """Pearson r between the mean score and the changed fraction of ``block`` x ``block`` blocks.

    2-D arrays; blocks that the array's edge cuts short are dropped. A block's mean score and
    changed fraction are taken over its pixels with a score; blocks with none are dropped.
    NaN when fewer than two blocks remain or either figure is constant.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape != labels.shape:
        raise ValueError(f"scores and labels must be 2-D arrays of one shape, not {scores.shape} and {labels.shape}")
    block = int(block)
    if block < 1:
        raise ValueError("block must be at least 1 pixel")
    rows, columns = scores.shape[0] // block, scores.shape[1] // block
    shape = (rows, block, columns, block)
    scores = scores[:rows * block, :columns * block].reshape(shape)
    truth = labels[:rows * block, :columns * block].astype(bool).reshape(shape)
    valid = ~np.isnan(scores)
    count = valid.sum(axis=(1, 3))
    keep = count > 0
    count = np.maximum(count, 1)
    mean_score = (np.where(valid, scores, 0.0).sum(axis=(1, 3)) / count)[keep]
    changed = ((truth & valid).sum(axis=(1, 3)) / count)[keep]
    return _pearson(mean_score, changed)


def score(probability, labels, block=BLOCK):
    """``{"auroc", "ap", "block_r", "pixels", "changed"}`` of a score map against a label map.

    ``pixels`` counts the pixels scored (score not NaN) and ``changed`` the changed ones
    among them. ``block_r`` needs 2-D arrays (NaN otherwise).
    """
    probability = np.asarray(probability)
    labels = np.asarray(labels)
    values, truth = _valid(probability, labels)
    return {
        "auroc": _auroc(values, truth),
        "ap": _ap(values, truth),
        "block_r": block_correlation(probability, labels, block) if probability.ndim == 2 else float("nan"),
        "pixels": int(values.size),
        "changed": int(truth.sum()),
    }


def _valid(scores, labels):
    """Flat scores (float64) and bool labels where the score is not NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in shape: {scores.shape} and {labels.shape}")
    scores, labels = scores.ravel(), labels.ravel()
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be bool or 0/1")
        labels = labels.astype(bool)
    keep = ~np.isnan(scores)
    return scores[keep], labels[keep]


def _pearson(x, y):
    if x.size < 2:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")
