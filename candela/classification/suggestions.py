"""The next samples to label: where the classifier is least sure, spread in space and feature space.

While the map is classified, a random sample of its valid pixels (``POOL`` at most, never a
training pixel, never a pixel on a field's edge: :func:`uniform_surroundings`) is
kept with their features and class probabilities. The suggestions are shared equally among
the classes the pixels are predicted as (a confused pair of classes gets labels on both
sides: labels of one side only moved the boundary the wrong way in our measurements). For
each class, its ``CANDIDATES_PER_SUGGESTION`` x quota least certain pixels (smallest margin
between the two likeliest classes; ties broken at random) go to CLUE (Prabhu et al. 2021,
scikit-activeml's ``Clue``): a k-means weighted by uncertainty, one suggestion nearest each
centre. CLUE clusters features and position together (standardised, position weighted
``POSITION_WEIGHT`` times the features), so the suggestions are uncertain pixels unlike each
other and apart from each other: labelling two neighbours, or two pixels the classifier sees
alike, would teach it the same thing twice.

Measured (tests/test_classification.py: ten generated scenes, 2 labels per class to start, 8
added; random labels averaged over three draws): the map's accuracy rose by 0.067 ± 0.049 with
the suggestions, by 0.051 ± 0.054 with random pixels; better on 9 scenes of 10. With 3 labels
per class and 12 added: 0.039 ± 0.029 against 0.033 ± 0.028. Variants measured the same way
did no better than random: CLUE over the whole pool; the least certain pixels without
per-class quotas (they pile into one class of a confused pair); one candidate per cell of the
image (spread wins over uncertainty).
"""

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter
from skactiveml.base import SkactivemlClassifier
from skactiveml.pool import Clue

from .features import TEXTURE

POOL = 20000
METHOD = "margin_sampling"
#: CLUE clusters the ``CANDIDATES_PER_SUGGESTION`` x count most uncertain pixels of the pool.
CANDIDATES_PER_SUGGESTION = 10
#: Weight of the position against the features in the embedding clustered: uncertain pixels
#: clump (a whole uncertain field), and labelling one field twice teaches little.
POSITION_WEIGHT = 3.0


class CandidatePool:
    """A random sample of a map's valid pixels, gathered window by window."""

    def __init__(self, grid, exclude=(), size=POOL, seed=0):
        self.rate = min(1.0, size / max(1, grid.width * grid.height))
        self.width = grid.width
        self.exclude = np.unique(np.asarray(exclude, dtype="int64"))
        self.rng = np.random.default_rng(seed)
        self.parts = []

    def add(self, window, X, valid, probabilities, eligible=None):
        """Keep some of the window's valid pixels (``probabilities``: valid ones'), among the
        ``eligible`` ones when given. ``X``: the features of the eligible pixels in pixel order
        (of all the window's pixels when ``eligible`` is None): a window classified elsewhere
        sends back only those."""
        index = np.flatnonzero(valid)
        keep = self.rng.random(len(index)) < self.rate
        if eligible is not None:
            keep &= eligible[index]
        rows = int(window.row_off) + index // int(window.width)
        cols = int(window.col_off) + index % int(window.width)
        flat = rows.astype("int64") * self.width + cols
        keep &= ~np.isin(flat, self.exclude)
        if keep.any():
            picked = index[keep]
            features = X[picked] if eligible is None else X[np.cumsum(eligible)[picked] - 1]
            self.parts.append((rows[keep], cols[keep], features, probabilities[keep]))

    def gathered(self):
        """``(rows, cols, X, probabilities)`` of every pixel kept."""
        if not self.parts:
            return np.empty(0, int), np.empty(0, int), None, None
        return tuple(np.concatenate(part) for part in zip(*self.parts))


def uniform_surroundings(probabilities, valid, window):
    """Whether each pixel of ``window`` is valid and its neighbours (the texture window) were
    classified as it was: pixels on a field's edge mix two covers, and labelling them teaches
    little about either (they are also hard to label on the ground)."""
    classes = np.full(int(window.height) * int(window.width), -1, dtype="int16")
    classes[valid] = probabilities.argmax(axis=1)
    classes = classes.reshape(int(window.height), int(window.width))
    uniform = maximum_filter(classes, TEXTURE, mode="nearest") == minimum_filter(classes, TEXTURE, mode="nearest")
    return (uniform & (classes >= 0)).ravel()


class _Scored(SkactivemlClassifier):
    """The pool's known probabilities and embedding, as the classifier scikit-activeml asks for.

    Its samples are pool indexes (one column): the forest has already classified them."""

    def __init__(self, probabilities, embedding, classes):
        super().__init__(classes=classes)
        self.probabilities, self.embedding = probabilities, embedding

    def fit(self, X, y, sample_weight=None):
        return self

    def predict_proba(self, X):
        index = np.asarray(X)[:, 0].astype(int)
        return self.probabilities[index], self.embedding[index]


def embedding(X, rows, cols):
    """Features and position, standardised, each group scaled to weigh the same."""
    def standardised(values):
        values = np.asarray(values, dtype="float64")
        spread = values.std(axis=0)
        return (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1)

    features = standardised(X) / np.sqrt(X.shape[1])
    place = POSITION_WEIGHT * standardised(np.column_stack([rows, cols])) / np.sqrt(2)
    return np.hstack([features, place])


def margins(probabilities):
    """Probability of the likeliest class minus the second's (0: undecided, 1: sure)."""
    top = np.sort(probabilities, axis=1)
    return top[:, -1] - (top[:, -2] if top.shape[1] > 1 else 0)


def choose(rows, cols, X, probabilities, count, seed=0):
    """Indexes into the pool of ``count`` suggestions (all of it when smaller)."""
    if X is None or len(X) <= count:
        return np.arange(0 if X is None else len(X))
    predicted = probabilities.argmax(axis=1)
    classes = np.unique(predicted)
    quotas = np.full(len(classes), count // len(classes))
    quotas[: count % len(classes)] += 1
    # Forests' probabilities come in steps of 1/trees: many pixels tie, and a stable sort would
    # take the tied ones in the pool's order, from the top of the image down.
    shuffled = np.random.default_rng(seed).permutation(len(X))
    order = shuffled[np.argsort(margins(probabilities[shuffled]), kind="stable")]
    chosen = []
    for cls, quota in zip(classes, quotas):
        candidates = order[predicted[order] == cls][:CANDIDATES_PER_SUGGESTION * quota]
        if quota == 0 or len(candidates) == 0:
            continue
        if len(candidates) <= quota:
            chosen.extend(candidates)
            continue
        scored = _Scored(probabilities[candidates], embedding(X[candidates], rows[candidates], cols[candidates]),
                         np.arange(probabilities.shape[1]))
        strategy = Clue(method=METHOD, random_state=seed, cluster_algo_dict={"n_init": 1, "random_state": seed})
        index = np.arange(len(candidates), dtype="float64")[:, None]
        picked = strategy.query(index, np.full(len(candidates), np.nan), scored, fit_estimator=False, batch_size=int(quota))
        chosen.extend(candidates[picked])
    return np.array(chosen, dtype=int)
