"""SpeechBrain datasets and loader options built from the prepared manifests.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import speechbrain as sb
import torch
from speechbrain.dataio.sampler import DynamicBatchSampler

from speechbrain_lora_ser.ccc import ATTRIBUTES
from speechbrain_lora_ser.data import SPLITS, load_audio


def make_datasets(manifests, label_scaler, sample_rate=16000):
    """Build ``DynamicItemDataset`` objects for every split.

    Arguments
    ---------
    manifests : dict
        Path of the JSON manifest of each split.
    label_scaler : speechbrain_lora_ser.data.LabelScaler
        Maps labels to the model's range.
    sample_rate : int
        Audio is resampled to this rate and mixed down to mono.

    Returns
    -------
    dict
        ``{split: DynamicItemDataset}`` with output keys ``id``, ``sig`` and
        ``labels`` (NaN for unlabeled utterances).
    """

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return load_audio(wav, sample_rate)

    @sb.utils.data_pipeline.takes(*ATTRIBUTES)
    @sb.utils.data_pipeline.provides("labels")
    def label_pipeline(*values):
        labels = torch.tensor(
            [math.nan if v is None else float(v) for v in values], dtype=torch.float32
        )
        return label_scaler.scale(labels)

    return {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=manifests[split],
            dynamic_items=[audio_pipeline, label_pipeline],
            output_keys=["id", "sig", "labels"],
        )
        for split in SPLITS
    }


def sort_dataset(dataset, sorting):
    """Apply the ``sorting`` option; returns ``(dataset, shuffle)``.

    Arguments
    ---------
    dataset : DynamicItemDataset
        The training set.
    sorting : str
        ``random`` (shuffled every epoch), ``ascending`` or ``descending``
        (by duration, same order every epoch).

    Example
    -------
    >>> from speechbrain.dataio.dataset import DynamicItemDataset
    >>> data = DynamicItemDataset({"a": {"duration": 3.0}, "b": {"duration": 1.0}})
    >>> data.set_output_keys(["id"])
    >>> sorted_data, shuffle = sort_dataset(data, "ascending")
    >>> [item["id"] for item in sorted_data], shuffle
    (['b', 'a'], False)
    """
    if sorting == "random":
        return dataset, True
    if sorting in ("ascending", "descending"):
        return (
            dataset.filtered_sorted(
                sort_key="duration", reverse=sorting == "descending"
            ),
            False,
        )
    raise ValueError(
        f"sorting must be random, ascending or descending, not {sorting!r}"
    )


def train_loader_options(dataset, hparams):
    """Loader options (and possibly re-sorted dataset) for the training set.

    With ``dynamic_batching`` the batches are filled up to
    ``max_batch_length`` seconds of (padded) audio from ``num_buckets``
    duration buckets at the quantiles of the training durations (SpeechBrain's
    ``DynamicBatchSampler``); otherwise batches hold ``batch_size``
    utterances.

    Returns
    -------
    dataset : DynamicItemDataset
    options : dict
        Keyword arguments of ``Brain.fit``'s ``train_loader_kwargs``.
    """
    dataset, shuffle = sort_dataset(dataset, hparams["sorting"])
    # A DataLoader draws its workers' base seed from the global generator each
    # time an iterator starts; a resumed epoch starts one mid-way, so that draw
    # would shift every later dropout mask. Its own generator keeps the global
    # stream identical to an uninterrupted run.
    generator = torch.Generator().manual_seed(hparams["seed"])
    if hparams["dynamic_batching"]:
        durations = [item["duration"] for item in dataset.data.values()]
        sampler = DynamicBatchSampler(
            dataset,
            max_batch_length=hparams["max_batch_length"],
            bucket_boundaries=duration_bucket_boundaries(
                durations, hparams["num_buckets"]
            ),
            length_func=lambda item: item["duration"],
            shuffle=shuffle,
            batch_ordering="random" if shuffle else hparams["sorting"],
        )
        return dataset, {
            "batch_sampler": sampler,
            "num_workers": hparams["num_workers"],
        }
    return dataset, {
        "batch_size": hparams["batch_size"],
        "shuffle": shuffle,
        "num_workers": hparams["num_workers"],
        "generator": generator,
    }


def eval_loader_options(batch_size, num_workers):
    """Loader options for development and test sets (fixed order).

    Example
    -------
    >>> eval_loader_options(8, 2)
    {'batch_size': 8, 'num_workers': 2}
    """
    return {"batch_size": batch_size, "num_workers": num_workers}


def padded_fraction(batches, durations):
    """Fraction of the batched audio that is padding.

    Arguments
    ---------
    batches : list of list
        Utterance keys of each batch.
    durations : dict
        Duration of each utterance.

    Returns
    -------
    float
        Padding / (padding + audio), with each batch padded to its longest.

    Example
    -------
    >>> padded_fraction([["a", "b"]], {"a": 1.0, "b": 3.0})
    0.3333333333333333
    """
    padded = total = 0.0
    for batch in batches:
        lengths = [durations[key] for key in batch]
        padded += len(lengths) * max(lengths) - sum(lengths)
        total += len(lengths) * max(lengths)
    return padded / total if total else 0.0


def duration_bucket_boundaries(durations, num_buckets):
    """Bucket upper bounds at equally spaced quantiles of the durations.

    ``DynamicBatchSampler``'s own ``num_buckets`` spreads buckets up to
    ``max_batch_length`` (hundreds of seconds), far beyond utterance lengths,
    which puts nearly every utterance in one bucket; quantiles of the data
    keep each bucket's utterances of similar length.

    Arguments
    ---------
    durations : list of float
        Utterance durations.
    num_buckets : int
        Number of buckets.

    Returns
    -------
    list of float
        Increasing, distinct upper bounds (the last one is the longest).

    Example
    -------
    >>> duration_bucket_boundaries([1.0, 2.0, 3.0, 4.0], 2)
    [2.5, 4.0]
    """
    import numpy as np

    quantiles = np.linspace(1.0 / num_buckets, 1.0, num_buckets)
    bounds = np.quantile(np.asarray(durations, dtype=float), quantiles)
    return sorted({float(b) for b in bounds})
