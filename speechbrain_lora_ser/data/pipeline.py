"""How a stage's training set is batched (the recipes' ``TrainLoader``).

The datasets themselves are built by each recipe's ``dataio_prep``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
from speechbrain.dataio.sampler import DynamicBatchSampler


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


class TrainLoader:
    """How a stage's training set is batched (declared in the recipe's YAML).

    Arguments
    ---------
    batch_size : int
        Utterances per batch *per process* (SpeechBrain's meaning: under
        torchrun with N processes a step sees N x batch_size utterances).
    global_batch_size : int, optional
        Utterances per optimizer step over all processes and gradient
        accumulation steps (the paper's 32). When set, the per-process batch
        is ``global_batch_size / (processes x accumulation)``, so the paper's
        batch holds on any number of GPUs.
    num_workers : int
        Data loading workers.
    sorting : str
        ``random``, ``ascending`` or ``descending``.
    seed : int
        Seed of the loader's own generator.
    dynamic_batching : bool
        Batches of up to ``max_batch_length`` seconds of padded audio from
        ``num_buckets`` duration buckets (SpeechBrain's
        ``DynamicBatchSampler``) instead of ``batch_size`` utterances.
    max_batch_length : float
        Seconds of audio per dynamic batch (per process).
    num_buckets : int
        Duration buckets of dynamic batching, at the duration quantiles.
    pin_memory : bool
        Pinned host memory for faster copies to a GPU.

    Example
    -------
    >>> loader = TrainLoader(batch_size=8)
    >>> loader.effective_batch(world_size=4, accumulation=1)
    '32 utterances (8 per process x 4 processes x 1 accumulation)'
    >>> TrainLoader(batch_size=8, global_batch_size=32).per_process_batch(2, 2)
    8
    """

    def __init__(
        self,
        batch_size=32,
        global_batch_size=None,
        num_workers=0,
        sorting="random",
        seed=1986,
        dynamic_batching=False,
        max_batch_length=200.0,
        num_buckets=20,
        pin_memory=False,
    ):
        self.batch_size = batch_size
        self.global_batch_size = global_batch_size
        self.num_workers = num_workers
        self.sorting = sorting
        self.seed = seed
        self.dynamic_batching = dynamic_batching
        self.max_batch_length = max_batch_length
        self.num_buckets = num_buckets
        self.pin_memory = pin_memory

    def per_process_batch(self, world_size=None, accumulation=None):
        """Utterances per batch on one process."""
        if self.global_batch_size is None:
            return self.batch_size
        world_size = world_size or world_size_now()
        accumulation = accumulation or 1
        share, remainder = divmod(self.global_batch_size, world_size * accumulation)
        if remainder or share == 0:
            raise ValueError(
                f"global_batch_size={self.global_batch_size} is not divisible by "
                f"{world_size} process(es) x {accumulation} accumulation step(s)"
            )
        return share

    def effective_batch(self, world_size=1, accumulation=1):
        """Describe what one optimizer step sees (logged and recorded)."""
        if self.dynamic_batching:
            total = self.max_batch_length * world_size * accumulation
            return (
                f"{total:g} s of audio ({self.max_batch_length:g} s per process x "
                f"{world_size} processes x {accumulation} accumulation)"
            )
        per_process = self.per_process_batch(world_size, accumulation)
        return (
            f"{per_process * world_size * accumulation} utterances ({per_process} "
            f"per process x {world_size} processes x {accumulation} accumulation)"
        )

    def for_dataset(self, dataset, accumulation=1):
        """Return ``(dataset, loader_kwargs)`` for ``Brain.fit``.

        ``accumulation`` is the Brain's gradient accumulation factor (it
        divides a ``global_batch_size``).

        A DataLoader draws its workers' base seed from the global generator
        each time an iterator starts; a resumed epoch starts one mid-way, so
        that draw would shift every later dropout mask. Its own generator
        keeps the global stream identical to an uninterrupted run.
        """
        dataset, shuffle = sort_dataset(dataset, self.sorting)
        common = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if self.dynamic_batching:
            durations = [item["duration"] for item in dataset.data.values()]
            sampler = DynamicBatchSampler(
                dataset,
                max_batch_length=self.max_batch_length,
                bucket_boundaries=duration_bucket_boundaries(
                    durations, self.num_buckets
                ),
                length_func=lambda item: item["duration"],
                shuffle=shuffle,
                batch_ordering="random" if shuffle else self.sorting,
            )
            return dataset, {"batch_sampler": sampler, **common}
        return dataset, {
            "batch_size": self.per_process_batch(accumulation=accumulation),
            "shuffle": shuffle,
            "generator": torch.Generator().manual_seed(self.seed),
            **common,
        }


def world_size_now():
    """Return the number of processes of the current run (1 without DDP).

    Example
    -------
    >>> world_size_now()
    1
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


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
