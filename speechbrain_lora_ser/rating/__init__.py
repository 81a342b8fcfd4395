"""Rate an archive on Ray and choose the segments to send to annotators.

``ser-rate`` (``speechbrain_lora_ser.rating.cli``) rates every recording of
folders, a manifest or a file list in timeline windows, with the same speech
detection, calibration and bank routing as ``ser-predict`` (it calls the
model's public ``predict_files``), on Ray Data actors that hold the model:
one per GPU when the cluster has GPUs, a set number of CPU workers
otherwise. The result is a Parquet dataset (``ratings/``: one row per window
and one per file; ``failures/``: each file that could not be rated, with the
reason), written shard by shard, each shard file renamed into place when
complete, so that a killed run re-run finishes the rest without redoing or
duplicating anything.

``ser-select`` reads such a dataset and picks segments spread over the
arousal x valence (x dominance) space, with quotas per bin, writing a list,
the audio cut to the segments and a coverage plot.

Modules by role: ``inputs`` (what to rate), ``shards`` (units of work),
``store`` (the Parquet dataset), ``rate`` (Ray Data), ``selection``,
``cli``. Needs the ``rating`` extra (``pip install ".[rating]"``).

Authors
 * speechbrain-lora-ser contributors 2026
"""
