"""From feature distance to probability of change: a monotone map fitted on each pair."""

import math
from dataclasses import dataclass

import numpy as np

HISTOGRAM_BINS = 256
#: Distance-to-probability curve, in null deviations of log distance (see ProbabilityMapping);
#: chosen on the labelled OSCD cities, where it maximised block correlation for zCVA.
MIDPOINT = 2.5
SLOPE = 3.0
#: Added to distances before the logarithm: far below a real difference (distances of
#: standardised features are of order 1), far above float32 noise between identical images.
DISTANCE_FLOOR = 0.01


@dataclass
class ProbabilityMapping:
    """Monotone map from feature distance to probability of change, fitted on one pair.

    The no-change bulk of ``log(distance)`` is matched by a normal curve (Efron's central
    matching: a parabola fitted to the log-histogram around its peak), giving its centre
    ``null_mean`` and spread ``null_std``. A distance ``k`` null deviations above the centre
    gets ``p = 1 / (1 + exp(-SLOPE * (k - MIDPOINT)))``: 0.01 at 1, 0.18 at 2, 0.82 at 3 and
    0.99 at 4 deviations. Strictly increasing, so it keeps the ranking of distances.
    """

    null_mean: float
    null_std: float

    @classmethod
    def fit(cls, distances):
        """Fit on the distances of one pair."""
        z = np.log(np.asarray(distances, dtype=np.float64) + DISTANCE_FLOOR)
        low, high = np.quantile(z, [0.0005, 0.99995])
        if not high > low:  # identical images: every distance is the same, nothing changed
            return cls(float(high), 0.05)
        counts, edges = np.histogram(z, bins=HISTOGRAM_BINS, range=(low, high))
        centres = (edges[:-1] + edges[1:]) / 2
        mean, std = _central_fit(z, centres, counts)
        return cls(float(mean), float(std))

    def __call__(self, distance):
        distance = np.asarray(distance, dtype=np.float32)
        values = np.log(np.atleast_1d(distance) + np.float32(DISTANCE_FLOOR))
        values -= np.float32(self.null_mean + MIDPOINT * self.null_std)
        values *= np.float32(-SLOPE / self.null_std)
        np.exp(values, out=values)
        values += 1
        return np.reciprocal(values, out=values).reshape(distance.shape)

    def as_dict(self):
        return dict(null_log_distance_mean=self.null_mean, null_log_distance_std=self.null_std,
                    midpoint_deviations=MIDPOINT, slope=SLOPE)


def _central_fit(z, centres, counts):
    """Centre and spread of the normal curve matched to the peak of the histogram of ``z``."""
    median = float(np.median(z))
    q1, q3 = np.quantile(z, [0.25, 0.75])
    spread = max(float(q3 - q1) / 1.349, 1e-3)
    central = (np.abs(centres - median) <= 1.5 * spread) & (counts > 0)
    if central.sum() >= 5:
        a, b, _ = np.polyfit(centres[central], np.log(counts[central]), 2, w=np.sqrt(counts[central]))
        if a < 0:
            return -b / (2 * a), max(math.sqrt(-1 / (2 * a)), 1e-3)
    return median, spread
