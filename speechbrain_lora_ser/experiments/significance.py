"""Significance as in the paper: one-tailed Welch's t-test on CCC samples.

A configuration's CCC on a test set is one number; a t-test needs samples of
it. Two ways to form them (both options of ``tables``):

* ``partitions`` (default): the test set is split into K disjoint random
  partitions (fixed ``partition_seed``, so every configuration is split the
  same way) and CCC is computed on each partition, giving K samples;
* ``seeds``: the CCC of each training seed on the whole test set (needs runs
  with several ``--seed`` values).

The test is ``scipy.stats.ttest_ind(best, other, equal_var=False,
alternative="greater")``: is the best configuration's CCC greater?

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv

import numpy as np
import torch
from scipy import stats

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES, ccc


def read_predictions(path):
    r"""Return ``ids, predictions [N, 3], targets [N, 3]`` of a predictions CSV.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("ID,arousal,true_arousal,valence,true_valence,dominance,"
    ...                 "true_dominance\nu1,4,5,3,3,2,2.5\nu2,4,,3,,2,")
    >>> ids, predictions, targets = read_predictions(path)
    >>> ids, targets.tolist()
    (['u1'], [[5.0, 3.0, 2.5]])
    """
    ids, predictions, targets = [], [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if any(row[f"true_{name}"] == "" for name in ATTRIBUTES):
                continue  # unlabeled utterances carry no CCC
            ids.append(row["ID"])
            predictions.append([float(row[name]) for name in ATTRIBUTES])
            targets.append([float(row[f"true_{name}"]) for name in ATTRIBUTES])
    return ids, np.array(predictions), np.array(targets)


def partition_ccc_samples(ids, predictions, targets, k=20, seed=0):
    """CCC of each of K disjoint random partitions of a test set.

    The partition of an utterance depends only on its ID and the seed, so
    every configuration's predictions are split identically.

    Arguments
    ---------
    ids : list of str
        Utterance IDs.
    predictions, targets : numpy.ndarray
        ``[N, 3]`` arrays.
    k : int
        Number of partitions.
    seed : int
        Seed of the split.

    Returns
    -------
    numpy.ndarray
        ``[k, 3]`` CCC samples.

    Raises
    ------
    ValueError
        When ``k`` is below 2 (a t-test needs two samples) or above the
        number of utterances (a partition would be empty).

    Example
    -------
    >>> y = np.random.default_rng(0).random((40, 3))
    >>> partition_ccc_samples([str(i) for i in range(40)], y, y, k=4).round(6)
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    >>> partition_ccc_samples(["a", "b"], y[:2], y[:2], k=3)
    Traceback (most recent call last):
    ...
    ValueError: k=3 partitions of 2 utterances: k must be from 2 to 2
    """
    if not 2 <= k <= len(ids):
        raise ValueError(
            f"k={k} partitions of {len(ids)} utterances: k must be from 2 to {len(ids)}"
        )
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    permutation = np.random.default_rng(seed).permutation(len(order))
    shuffled = [order[i] for i in permutation]
    samples = []
    for part in np.array_split(np.array(shuffled), k):
        values = ccc(
            torch.from_numpy(predictions[part]).double(),
            torch.from_numpy(targets[part]).double(),
        )
        samples.append(values.numpy())
    return np.stack(samples)


def welch_greater(best, other):
    """One-tailed Welch's t-test p-value that ``best`` > ``other``.

    Example
    -------
    >>> welch_greater([0.6, 0.62, 0.61, 0.63], [0.5, 0.52, 0.49, 0.51]) < 1e-4
    True
    >>> welch_greater([0.5, 0.52, 0.49, 0.51], [0.6, 0.62, 0.61, 0.63]) > 0.99
    True
    """
    return float(
        stats.ttest_ind(best, other, equal_var=False, alternative="greater").pvalue
    )
