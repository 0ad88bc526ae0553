"""AUROC, average precision and block correlation on arrays whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from candela.change.metrics import auroc, average_precision, block_correlation, score


def test_perfect_and_reversed_ranking():
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    labels = np.array([False, False, True, True])
    assert auroc(scores, labels) == 1.0
    assert average_precision(scores, labels) == 1.0
    assert auroc(-scores, labels) == 0.0
    # Reversed: the positives come 3rd (P 1/3, R 1/2) and 4th (P 1/2, R 1).
    assert average_precision(-scores, labels) == pytest.approx(1 / 2 * 1 / 3 + 1 / 2 * 1 / 2)


def test_ties_count_one_half_and_one_threshold():
    # Positives score 0.5 and 0.9, negatives 0.1 and 0.5: of 4 pairs 3 are won and 1 tied.
    scores = np.array([0.1, 0.5, 0.5, 0.9])
    for labels in ([0, 0, 1, 1], [0, 1, 0, 1]):  # the tied positive before or after the tied negative
        assert auroc(scores, labels) == pytest.approx(3.5 / 4)
        # Thresholds 0.9 (P 1, R 1/2), 0.5 (P 2/3, R 1), 0.1 (P 1/2, R 1: no step).
        assert average_precision(scores, labels) == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 3)
    # All scores equal: one threshold, AUROC one half, AP the prevalence.
    assert auroc(np.ones(5), [1, 0, 0, 1, 0]) == 0.5
    assert average_precision(np.ones(5), [1, 0, 0, 1, 0]) == pytest.approx(2 / 5)


def test_average_precision_by_hand():
    # Ranked: + - - + -: steps at rank 1 (P 1, R 1/2) and rank 4 (P 2/4, R 1).
    assert average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 0, 1, 0]) == pytest.approx(0.75)
    # scikit-learn's documented example of average_precision_score and roc_auc_score.
    assert average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.8333333333)
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_against_the_definitions_on_random_ties():
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 6, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.3
    positives, negatives = scores[labels], scores[~labels]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert auroc(scores, labels) == pytest.approx(pairs.mean())
    expected, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = scores >= threshold
        precision = labels[chosen].mean()
        recall = labels[chosen].sum() / labels.sum()
        expected += (recall - previous_recall) * precision
        previous_recall = recall
    assert average_precision(scores, labels) == pytest.approx(expected)


def test_nan_scores_are_left_out():
    scores = np.array([0.1, np.nan, 0.5, 0.5, np.nan, 0.9])
    labels = np.array([0, 1, 0, 1, 0, 1])
    assert auroc(scores, labels) == pytest.approx(3.5 / 4)
    assert average_precision(scores, labels) == pytest.approx(5 / 6)
    figures = score(scores, labels)
    assert figures["pixels"] == 4 and figures["changed"] == 2
    assert math.isnan(figures["block_r"])  # 1-D: no blocks


def test_undefined_or_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="both"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="changed"):
        average_precision([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="both"):
        auroc([np.nan, 0.2], [1, 0])  # the only positive has no score
    with pytest.raises(ValueError, match="shape"):
        auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        auroc([0.1, 0.2], [0, 2])


def blocks(values, block, edge=(0, 0), edge_value=0.0):
    """An array of constant ``block`` x ``block`` blocks, plus ``edge`` extra rows and columns."""
    array = np.kron(np.asarray(values, dtype=float), np.ones((block, block)))
    return np.pad(array, ((0, edge[0]), (0, edge[1])), constant_values=edge_value)


def test_block_correlation_by_hand():
    # Changed fractions 0, 1/4, 1/2 / 3/4, 1, 0 over six 16 x 16 blocks, each block's changed
    # pixels its top rows; scores a linear function of the fraction: r = 1, or -1 reversed.
    fractions = np.array([[0, 0.25, 0.5], [0.75, 1, 0]])
    labels = np.zeros((32, 48), bool)
    for (i, j), fraction in np.ndenumerate(fractions):
        labels[16 * i:16 * i + int(16 * fraction), 16 * j:16 * j + 16] = True
    scores = blocks(2 * fractions + 1, 16)
    assert block_correlation(scores, labels) == pytest.approx(1.0)
    assert block_correlation(-scores, labels) == pytest.approx(-1.0)
    # Pixel scores varying inside a block count by their block mean only.
    noise = np.tile([[-0.5, 0.5]], (32, 24))
    assert block_correlation(scores + noise, labels) == pytest.approx(1.0)

    # Block means 1, 2, 3 against changed fractions 0, 0, 1: r = 1 / sqrt(2 * 2/3) = sqrt(3) / 2.
    labels = blocks([[0, 0, 1]], 16).astype(bool)
    assert block_correlation(blocks([[1, 2, 3]], 16), labels) == pytest.approx(math.sqrt(3) / 2)


def test_block_correlation_drops_partial_edge_blocks():
    # 7 extra rows and 9 extra columns, of huge changed scores, must not count.
    scores = blocks([[1, 2, 3]], 16, edge=(7, 9), edge_value=1000)
    labels = blocks([[0, 0, 1]], 16, edge=(7, 9), edge_value=1).astype(bool)
    assert block_correlation(scores, labels) == pytest.approx(math.sqrt(3) / 2)
    # 23 x 57 pixels hold 5 x 14 whole 4 x 4 blocks: the same r as the 20 x 56 pixels they cover.
    assert block_correlation(scores, labels, block=4) == pytest.approx(
        block_correlation(scores[:20, :56], labels[:20, :56], block=4))


def test_block_correlation_ignores_nan_scores():
    scores = blocks([[1, 2, 3, 4]], 2)
    labels = blocks([[0, 0, 1, 1]], 2).astype(bool)
    # Block 2: its one changed pixel has no score, so its changed fraction is 0; its mean score stays 2.
    labels[0, 2] = True
    scores[0, 2] = np.nan
    # Block 4 (all NaN) is dropped: fractions 0, 0, 1 against means 1, 2, 3.
    scores[:, 6:] = np.nan
    assert block_correlation(scores, labels, block=2) == pytest.approx(math.sqrt(3) / 2)


def test_block_correlation_undefined_is_nan():
    labels = blocks([[0, 1]], 16).astype(bool)
    assert math.isnan(block_correlation(np.ones((16, 32)), labels))  # constant score
    assert math.isnan(block_correlation(np.ones((16, 16)), labels[:, :16]))  # one block
    with pytest.raises(ValueError, match="2-D"):
        block_correlation(np.ones(16), np.ones(16, bool))


def test_score():
    labels = blocks([[0, 0, 1]], 16).astype(bool)
    figures = score(blocks([[1, 2, 3]], 16), labels)
    assert figures == {"auroc": 1.0, "ap": 1.0, "block_r": pytest.approx(math.sqrt(3) / 2),
                       "pixels": 768, "changed": 256}
