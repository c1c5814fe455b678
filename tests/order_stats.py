"""Statistics telling a random order of labels from a sorted one (tests of shuffling)."""

import numpy as np


def _ranks(values):
    """Ranks 0..n-1 of `values`, ties given their average rank."""
    values = np.asarray(values, np.float64)
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind='stable')] = np.arange(len(values))
    for value in np.unique(values):
        ranks[values == value] = ranks[values == value].mean()
    return ranks


def rank_correlation(labels):
    """Spearman's rank correlation between position and label.

    About 0 for a random order, with a standard deviation of 1/sqrt(n - 1); 1 for labels
    in ascending order (a list sorted by class).
    """
    return float(np.corrcoef(_ranks(np.arange(len(labels))), _ranks(labels))[0, 1])


def distinct_per_batch(labels, batch):
    """Mean number of distinct labels in consecutive batches of `batch` labels."""
    labels = np.asarray(labels)[: len(labels) // batch * batch].reshape(-1, batch)
    return float(np.mean([len(set(b)) for b in labels]))
