"""The windows of many files rated together, in batches, for both runtimes.

Windows are grouped by duration (``batches``: little padding, which a CPU
pays for as for audio), and a failure is the failing file's alone
(``rate_by_file``). Used by ``EncoderRegressor.predict_files`` and
``OnnxRegressor.predict_files``; this module imports nothing.

Authors
 * speechbrain-lora-ser contributors 2026
"""


def batches(lengths, batch_size, max_padding=0.1):
    """Group indices by length, at most ``max_padding`` of each batch padded.

    A batch closes when it is full or when the next (longer) window would
    pad more than ``max_padding`` of it.

    Example
    -------
    >>> list(batches([100, 10, 11, 12, 101], 8))
    [[1, 2, 3], [0, 4]]
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch, total = [], 0
    for index in order:
        length = lengths[index]
        padded = (len(batch) + 1) * length
        if batch and (
            len(batch) == batch_size or padded > (1 + max_padding) * (total + length)
        ):
            yield batch
            batch, total = [], 0
        batch.append(index)
        total += length
    if batch:
        yield batch


def rate_by_file(to_rate, rate_windows, fail):
    """``{id(window): rating}`` of ``(file index, window)`` pairs.

    All windows are rated together (``rate_windows(windows)`` gives their
    ratings in order); if that raises, each file's windows are rated on
    their own and a file that still fails is given to ``fail(index,
    error)`` (its windows stay unrated).

    Example
    -------
    >>> def double(windows):
    ...     if "bad" in windows:
    ...         raise ValueError("bad window")
    ...     return [2 * w for w in windows]
    >>> failed = []
    >>> ratings = rate_by_file([(0, 1), (1, "bad"), (0, 3)], double,
    ...     lambda index, error: failed.append(index))
    >>> sorted(ratings.values()), failed
    ([2, 6], [1])
    """
    windows = [w for _, w in to_rate]
    try:
        return dict(zip(map(id, windows), rate_windows(windows), strict=True))
    except Exception:  # noqa: BLE001 - find the file that fails, rate the rest
        pass
    ratings = {}
    for index in dict.fromkeys(i for i, _ in to_rate):
        mine = [w for i, w in to_rate if i == index]
        try:
            rated = rate_windows(mine)
        except Exception as error:  # noqa: BLE001 - the file's error row
            fail(index, error)
            continue
        ratings.update(zip(map(id, mine), rated, strict=True))
    return ratings
