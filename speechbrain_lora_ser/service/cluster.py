"""The service as a Ray Serve application: replicas across GPUs and nodes.

Each replica loads the model once and serves the very app of ``ser-serve``
(``create_app``), built at replica start-up (``__serve_build_asgi_app__``);
only the batcher differs: ``ServeBatcher`` hands concurrent requests to
Ray Serve's own ``@serve.batch``, which waits up to ``max_wait_ms`` for up
to ``max_batch`` files. Ray Serve's HTTP proxy spreads requests over the
replicas (one GPU each when the cluster has GPUs) and answers 503 past
``max_queue`` requests waiting for a replica.

> ser-serve --model FOLDER --ray --replicas 2 [--address ray://head:10001]
> serve run speechbrain_lora_ser.service.cluster:build model=FOLDER replicas=2
"""

import asyncio

from ray import serve

from speechbrain_lora_ser.service.app import create_app
from speechbrain_lora_ser.service.batching import QueueFull, rate_together
from speechbrain_lora_ser.service.settings import Settings
from speechbrain_lora_ser.serving.model_loading import load_serving_model


class ServeBatcher:
    """Requests rated together by Ray Serve's ``@serve.batch``.

    The interface of ``batching.Batcher``: ``submit`` returns a file's
    ``predict_files`` row; at most ``max_queue`` requests wait in one replica
    (past it, ``QueueFull``: 503 with ``Retry-After``).

    Arguments
    ---------
    model : EncoderRegressor
    settings : speechbrain_lora_ser.service.settings.Settings

    Example
    -------
    >>> batcher = ServeBatcher(None, Settings(max_batch=4))
    >>> batcher.rate._get_max_batch_size(), batcher.waiting
    (4, 0)
    """

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        self.waiting = 0
        self.batches = 0
        self.largest_batch = 0
        self.rate = serve.batch(
            max_batch_size=settings.max_batch,
            batch_wait_timeout_s=settings.max_wait_ms / 1e3,
        )(self._rate_batch)

    def start(self):
        """Nothing to start: Ray Serve runs the batches."""

    async def stop(self):
        """Nothing to stop."""

    async def submit(self, path, **options):
        """Return the ``predict_files`` row of ``path`` (windows included)."""
        if self.waiting >= self.settings.max_queue:
            raise QueueFull(f"{self.waiting} requests are waiting")
        self.waiting += 1
        try:
            row = await self.rate((path, tuple(sorted(options.items()))))
        finally:
            self.waiting -= 1
        if isinstance(row, Exception):
            raise row
        return row

    async def _rate_batch(self, requests):
        rows, sizes = await asyncio.to_thread(
            rate_together, self.model, requests, self.settings.max_batch
        )
        self.batches += len(sizes)
        self.largest_batch = max([self.largest_batch, *sizes])
        return rows


@serve.ingress()
class SERService:
    """A Ray Serve replica: the model, loaded once, and ``ser-serve``'s app.

    Arguments
    ---------
    source : str
        An exported model folder or a bank (on storage every node sees).
    settings : speechbrain_lora_ser.service.settings.Settings
    device : str
        ``cuda`` on a GPU replica, else ``cpu``.
    precision : str
        As ``ser-serve --precision``.
    """

    def __init__(self, source, settings, device="cpu", precision="fp32"):
        self.model = load_serving_model(source, None, device, precision)
        self.settings = settings

    def __serve_build_asgi_app__(self):
        """Return the app of ``ser-serve``, batched by Ray Serve."""
        return create_app(self.model, self.settings, batcher=ServeBatcher)


def deployment(source, settings, replicas=None, gpus=0, precision="fp32"):
    """Return the bound Ray Serve application of ``source``.

    Arguments
    ---------
    source : str
        An exported model folder or a bank.
    settings : speechbrain_lora_ser.service.settings.Settings
    replicas : int, optional
        Default: one per GPU when ``gpus``, else one.
    gpus : int
        GPUs of the cluster (``ray.cluster_resources()``); each replica
        then holds one (``num_gpus=1``) and runs the model on ``cuda``.
    precision : str

    Returns
    -------
    ray.serve.Application
        For ``serve.run`` (or ``serve run`` / ``serve deploy``).

    Example
    -------
    >>> app = deployment("folder", Settings(), gpus=2)
    >>> options = app._bound_deployment.ray_actor_options
    >>> app._bound_deployment.num_replicas, options["num_gpus"]
    (2, 1)
    """
    device = "cuda" if gpus else "cpu"
    options = {"num_cpus": 1, "num_gpus": 1 if gpus else 0}
    return (
        serve.deployment(SERService)
        .options(
            name="ser",
            num_replicas=replicas or max(1, int(gpus)),
            ray_actor_options=options,
            max_ongoing_requests=settings.max_queue + settings.max_batch,
            max_queued_requests=settings.max_queue,
        )
        .bind(source, settings, device, precision)
    )


def build(args):
    """Return the application for Ray Serve's CLI (``serve run``, ``serve deploy``).

    ``args``: ``model`` (required), ``replicas``, ``precision``, and any
    ``Settings`` field (``max_batch=16``...). One GPU per replica when the
    cluster has GPUs.

    Example
    -------
    >>> build({"model": "folder", "replicas": "3"})._bound_deployment.num_replicas
    3
    """
    import ray

    args = dict(args)
    source = args.pop("model")
    replicas = int(args.pop("replicas", 0)) or None
    precision = args.pop("precision", "fp32")
    fields = Settings.__dataclass_fields__
    settings = Settings(
        **{k: (int if fields[k].type is int else float)(v) for k, v in args.items()}
    )
    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    return deployment(source, settings, replicas, gpus, precision)
