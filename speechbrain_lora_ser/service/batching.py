"""Concurrent requests rated together: one ``predict_files`` call per batch.

Requests wait at most ``max_wait_ms`` for company, up to ``max_batch``
files; the model's ``predict_files`` then rates their windows in padded
batches (each value equals the file's one-by-one prediction). The queue is
bounded: ``submit`` raises ``QueueFull`` past ``max_queue`` waiting files.
asyncio has the queue and the timer; the grouping by options is ours,
since no library batches calls to a model with per-request options.
"""

import asyncio
import itertools


class QueueFull(Exception):
    """Too many requests are waiting (the service answers 503)."""


class Batcher:
    """Collects ``(path, options)`` requests and rates them in batches.

    Arguments
    ---------
    model : EncoderRegressor
    settings : speechbrain_lora_ser.service.settings.Settings

    Example
    -------
    >>> from speechbrain_lora_ser.service.settings import Settings
    >>> Batcher(None, Settings()).waiting
    0
    """

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        self.queue = asyncio.Queue(maxsize=settings.max_queue)
        self.batches = 0
        self.largest_batch = 0
        self._worker = None

    @property
    def waiting(self):
        """Requests in the queue."""
        return self.queue.qsize()

    def start(self):
        """Start rating (inside the running event loop)."""
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self):
        """Stop rating."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def submit(self, path, **options):
        """Return the ``predict_files`` row of ``path`` (windows included)."""
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((path, tuple(sorted(options.items())), future))
        except asyncio.QueueFull:
            raise QueueFull(f"{self.waiting} requests are waiting") from None
        return await future

    async def _run(self):
        while True:
            batch = [await self.queue.get()]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.settings.max_wait_ms / 1e3
            while len(batch) < self.settings.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            # A client gone before its turn costs nothing.
            batch = [item for item in batch if not item[2].done()]
            requests = [(path, options) for path, options, _ in batch]
            rows, sizes = await asyncio.to_thread(
                rate_together, self.model, requests, self.settings.max_batch
            )
            self.count(sizes)
            for (_, _, future), row in zip(batch, rows, strict=True):
                if future.done():
                    continue
                if isinstance(row, Exception):
                    future.set_exception(row)
                else:
                    future.set_result(row)

    def count(self, sizes):
        """Count rated batches (``sizes``: requests in each)."""
        self.batches += len(sizes)
        self.largest_batch = max([self.largest_batch, *sizes])


def rate_together(model, requests, batch_size):
    """Rate ``(path, options)`` requests: one ``predict_files`` call per options.

    Arguments
    ---------
    model : EncoderRegressor
    requests : list of tuple
        ``(path, options)``: ``options`` a sorted tuple of ``(name, value)``
        keyword arguments of ``predict_files`` (``language``, ``calibrate``).
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    rows : list
        Each request's ``predict_files`` row (windows included), in order, or
        the exception its call raised (the process stays up; clients learn why).
    sizes : list of int
        Requests in each ``predict_files`` call.

    Example
    -------
    >>> rate_together(None, [], 8)
    ([], [])
    """
    rows, sizes = [None] * len(requests), []

    def options(i):
        return repr(requests[i][1])  # None and strings do not compare

    order = sorted(range(len(requests)), key=options)
    for _, group in itertools.groupby(order, options):
        group = list(group)
        try:
            rated = model.predict_files(
                [requests[i][0] for i in group],
                batch_size=batch_size,
                return_windows=True,
                **dict(requests[group[0]][1]),
            )
        except Exception as error:  # noqa: BLE001 - answered to the clients
            rated = [error] * len(group)
        for i, row in zip(group, rated, strict=True):
            rows[i] = row
        sizes.append(len(group))
    return rows, sizes
