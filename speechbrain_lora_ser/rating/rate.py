"""Rate shards of recordings on Ray Data actors that hold the model.

``rate_archive`` lists what is left to rate (``RatingStore.done_files``),
groups it into shards and runs ``Dataset.map_batches`` over them with an
``ActorPoolStrategy``: each actor loads the model once (one actor per GPU
when the cluster has GPUs, ``workers`` CPU actors otherwise), rates a
shard's files with the model's ``predict_files`` (the speech detection,
calibration and bank routing of ``ser-predict``), writes the shard's part
files and returns a one-row summary, from which the driver shows hours of
audio done and to go. A file ``predict_files`` cannot rate goes to the
failures table with its reason, and is tried again by the next run given
it; a worker lost mid-shard is restarted by Ray and the shard retried, and
a killed run re-run rates only what no part file holds.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os
import sys
import time

import numpy as np

from speechbrain_lora_ser.rating.shards import make_shards
from speechbrain_lora_ser.rating.store import RatingStore
from speechbrain_lora_ser.serving.decoding import audio_seconds
from speechbrain_lora_ser.serving.prediction_table import timeline_rows


class ShardRater:
    """A Ray Data actor: the model, loaded once, rating whole shards.

    Arguments
    ---------
    model : str
        An exported model folder or an adapter bank.
    output : str
        The rating folder (shared by every node of a cluster).
    device : str
        ``cuda`` or ``cpu``.
    options : dict
        ``predict_files`` keyword arguments (``batch_size``, ``vad``...).
    """

    def __init__(self, model, output, device, options):
        import torch

        from speechbrain_lora_ser.serving.model_loading import (
            check_model_options,
            load_serving_model,
        )

        if device == "cpu":
            torch.set_num_threads(1)
        self.model = load_serving_model(model, None, device)
        self.store = RatingStore(output)
        self.options = options
        # an error raised here would reach the driver as Ray's actor death:
        # the problem is returned instead, and the driver stops on it
        self.problem = ""
        try:
            check_model_options(
                self.model,
                options.get("language"),
                options.get("window_seconds"),
                options.get("hop_seconds"),
            )
        except ValueError as error:
            self.problem = str(error)

    def __call__(self, batch):
        """Rate the shards of a batch; returns their summaries."""
        summary = {"shard": [], "files": [], "failed": [], "seconds": []}
        summary["problem"] = []
        for name, files_json, seconds in zip(
            batch["shard"], batch["files"], batch["seconds"], strict=True
        ):
            files = json.loads(str(files_json))
            rate = not self.problem  # nothing is written under a problem
            summary["shard"].append(str(name))
            summary["files"].append(len(files) if rate else 0)
            summary["failed"].append(self.rate_shard(str(name), files) if rate else 0)
            summary["seconds"].append(float(seconds) if rate else 0.0)
            summary["problem"].append(self.problem)
        return {key: np.asarray(values) for key, values in summary.items()}

    def rate_shard(self, name, files):
        """Rate ``files`` and write them as shard ``name``; returns failures."""
        results = self._predict(files)
        failures = [
            {"file": r["file"], "reason": r["error"]} for r in results if r["error"]
        ]
        rated = [r for r in results if not r["error"]]
        rows = [
            {k: v for k, v in row.items() if k != "error"}
            for row in timeline_rows(rated)
        ]
        self.store.write_shard(name, rows, failures)
        return len(failures)

    def _predict(self, files):
        """``predict_files`` with windows; an unexpected error fails one file."""
        try:
            return self.model.predict_files(
                files, return_windows=True, progress=False, **self.options
            )
        except Exception:  # find the file that raised, rate the others
            results = []
            for path in files:
                try:
                    results += self.model.predict_files(
                        [path], return_windows=True, progress=False, **self.options
                    )
                except Exception as error:  # noqa: BLE001 - recorded, not lost
                    reason = f"{type(error).__name__}: {error}"
                    results.append({"file": path, "error": reason})
            return results


def plan_workers(resources, workers):
    """Actors, device and resources per actor for a cluster's resources.

    One actor per GPU when there are GPUs; otherwise ``workers`` CPU actors.

    Example
    -------
    >>> plan_workers({"CPU": 16.0, "GPU": 4.0}, workers=2)
    (4, 'cuda', {'num_gpus': 1, 'num_cpus': 1})
    >>> plan_workers({"CPU": 2.0}, workers=2)
    (2, 'cpu', {'num_cpus': 1})
    """
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, "cuda", {"num_gpus": 1, "num_cpus": 1}
    return workers, "cpu", {"num_cpus": 1}


def rate_archive(
    files,
    model,
    output,
    workers=1,
    files_per_shard=None,
    seconds_per_shard=600.0,
    options=None,
    progress=sys.stderr,
):
    """Rate every file not yet in ``output``; returns counts of the run.

    Ray must be initialised (``ray.init``). See ``ser-rate`` for the
    arguments; ``options`` are ``predict_files`` keyword arguments.

    Returns
    -------
    dict
        ``files`` (rated now), ``failed`` (now), ``skipped`` (already
        rated), ``retried`` (failed in an earlier run, tried again),
        ``seconds`` (audio rated now), ``wall_seconds``.
    """
    import ray

    options = dict(options or {})
    store = RatingStore(output)
    store.check_settings({"model": os.path.abspath(model), **options})
    store.remove_partials()
    retried = store.forget_failures(files)
    done = store.done_files()
    todo = [f for f in files if f not in done]
    seconds = [audio_seconds(f) for f in todo]
    count, device, resources = plan_workers(ray.cluster_resources(), workers)
    # at least a shard per worker: none idles while another rates it all
    total = sum(s or 0 for s in seconds)
    seconds_per_shard = min(seconds_per_shard, total / count) or seconds_per_shard
    shards = make_shards(todo, seconds, files_per_shard, seconds_per_shard)
    report = {"files": 0, "failed": 0, "skipped": len(files) - len(todo)}
    report["retried"] = len(retried)
    report["seconds"], started = 0.0, time.perf_counter()
    if shards:
        _say(
            progress,
            f"{len(todo)} files ({sum(s or 0 for s in seconds) / 3600:.2f}"
            f" h) in {len(shards)} shards on {count} {device} worker(s); "
            f"{report['skipped']} already done",
        )
        _run(
            shards,
            model,
            output,
            device,
            options,
            count,
            resources,
            report,
            progress,
            total,
        )
    report["wall_seconds"] = time.perf_counter() - started
    return report


def _run(
    shards, model, output, device, options, count, resources, report, progress, total
):
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    items = [
        {"shard": s.name, "files": json.dumps(s.files), "seconds": s.seconds}
        for s in shards
    ]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    summaries = dataset.map_batches(
        ShardRater,
        fn_constructor_kwargs={
            "model": model,
            "output": os.path.abspath(output),
            "device": device,
            "options": options,
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=count),
        max_restarts=2,
        max_task_retries=2,
        **resources,
    )
    for row in summaries.iter_rows():
        if row["problem"]:
            raise ValueError(str(row["problem"]))
        report["files"] += int(row["files"])
        report["failed"] += int(row["failed"])
        report["seconds"] += float(row["seconds"])
        _say(
            progress,
            f"{report['seconds'] / 3600:.3f} h of audio done, "
            f"{max(total - report['seconds'], 0.0) / 3600:.3f} h to go "
            f"({report['files']} files, {report['failed']} failed)",
        )


def _say(stream, text):
    if stream is not None:
        print(text, file=stream, flush=True)
