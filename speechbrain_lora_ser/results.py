"""The end of a run: test on every corpus, predict the other partitions, record.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import logging
import os

from speechbrain.utils.distributed import if_main_process

from speechbrain_lora_ser.ccc import ATTRIBUTES
from speechbrain_lora_ser.corpus import SPLITS

logger = logging.getLogger(__name__)


def test_corpora(brain, datasets, label_scalers, loader_kwargs, predictions_folder):
    """Test the trained model on every corpus and predict its other partitions.

    Each corpus's ``test`` partition gives the CCC of ``results.json`` and
    ``<corpus>_test.csv``; every partition that is not train/valid/test
    (labeled or not, e.g. an unlabeled challenge set) is predicted into
    ``<corpus>_<partition>.csv`` with the same columns (true values empty
    where unknown). What was predicted is logged.

    Arguments
    ---------
    brain : speechbrain_lora_ser.brain.EmotionBrain
        The trained model.
    datasets : dict
        ``{corpus: {partition: dataset}}``.
    label_scalers : dict
        ``{corpus: LabelScaler}``: predictions are written on each corpus's
        own scale.
    loader_kwargs : dict
        Loader options of the test sets.
    predictions_folder : str
        Where the CSV files go.

    Returns
    -------
    dict
        ``{corpus: {"arousal": ccc, "valence": ccc, "dominance": ccc}}`` on
        the test partitions.
    """
    results, written = {}, []
    if if_main_process():
        os.makedirs(predictions_folder, exist_ok=True)
    for corpus, partitions in datasets.items():
        others = sorted(p for p in partitions if p not in SPLITS)
        for partition in ["test", *others]:
            dataset = partitions[partition]
            summary, stats = brain.predict_dataset(
                dataset, f"{corpus} {partition}", loader_kwargs
            )
            if partition == "test":
                results[corpus] = {key: summary[key] for key in ATTRIBUTES}
            path = os.path.join(predictions_folder, f"{corpus}_{partition}.csv")
            if if_main_process():
                stats.write_predictions(
                    path, to_original_scale=label_scalers[corpus].unscale
                )
            labeled = sum(
                1 for entry in dataset.data.values() if entry["arousal"] is not None
            )
            written.append(
                f"{corpus} {partition}: {len(dataset)} utterances "
                f"({labeled} labeled) -> {path}"
            )
    logger.info("Predicted:\n  %s", "\n  ".join(written))
    return results


def write_results(output_folder, results_file, run_info, results):
    """Write ``run_info.json`` and, last and atomically, ``results.json``.

    ``results.json`` marks a finished run (the experiment grid skips it).

    Arguments
    ---------
    output_folder : str
        The run's folder.
    results_file : str
        Path of ``results.json``.
    run_info : dict
        What the run was (corpus, configuration, encoder, stages...).
    results : dict
        Test CCC per corpus.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_results(folder, f"{folder}/results.json", {"seed": 1}, {"A": {}})
    >>> sorted(os.listdir(folder))
    ['results.json', 'run_info.json']
    """
    with open(
        os.path.join(output_folder, "run_info.json"), "w", encoding="utf-8"
    ) as handle:
        json.dump(run_info, handle, indent=2, default=str)
    temporary = results_file + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    os.replace(temporary, results_file)
