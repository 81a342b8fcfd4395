"""The end of a run: test on every corpus, predict the other partitions, record.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os

from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_lora_ser.atomic import write_json, write_text
from speechbrain_lora_ser.data.manifests import SPLITS
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES, ccc
from speechbrain_lora_ser.serving.calibration import fit_calibration

logger = get_logger(__name__)


def predict(brain, dataset, name, loader_kwargs):
    """Predict every utterance of ``dataset`` with the stage's best epoch.

    SpeechBrain's own path: ``Brain.evaluate(max_key="ccc")`` recovers the
    best checkpoint (by development CCC) of the Brain's stage, then the
    recipe's Brain collects the predictions in ``brain.ccc_stats``.

    Arguments
    ---------
    brain : speechbrain.Brain
        The recipe's Brain (its evaluation stages fill ``ccc_stats``; it
        logs the set as ``brain.test_name``).
    dataset : DynamicItemDataset
        A test (or other) partition; unlabeled utterances are predicted
        and left out of the CCC.
    name : str
        How it is named in the log (``MSP-Podcast test``).
    loader_kwargs : dict
        Loader options.

    Returns
    -------
    summary : dict
        CCC per attribute and their average (NaN when unlabeled).
    stats : speechbrain_lora_ser.modeling.ccc.CCCStats
        Every prediction (``write_predictions`` writes them).
    """
    brain.test_name = name
    brain.evaluate(dataset, max_key="ccc", test_loader_kwargs=dict(loader_kwargs))
    return brain.ccc_stats.summarize(), brain.ccc_stats


def calibrate(brain, dataset, label_scaler, loader_kwargs, name):
    """Fit the calibration of the served values on a development set.

    Arguments
    ---------
    brain : speechbrain.Brain
        The trained model.
    dataset : DynamicItemDataset
        The development set of the model's corpus.
    label_scaler : speechbrain_lora_ser.modeling.labels.LabelScaler
        That corpus's label scale (the scale the model serves).
    loader_kwargs : dict
        Loader options.
    name : str
        How the set is named in the log.

    Returns
    -------
    speechbrain_lora_ser.serving.calibration.Calibration
    """
    _, stats = predict(brain, dataset, name, loader_kwargs)
    predictions, targets = stats.tensors()
    calibration = fit_calibration(
        label_scaler.unscale(predictions), label_scaler.unscale(targets)
    )
    if calibration.not_learned():
        logger.warning(
            "%s: %s not learned (development correlation below %g or not "
            "significant): the exported model withholds them (no value, "
            "'not_learned'); more epochs or more data may learn them",
            name,
            ", ".join(calibration.not_learned()),
            calibration.min_correlation,
        )
    return calibration


def test_corpora(
    brain,
    datasets,
    label_scalers,
    loader_kwargs,
    predictions_folder,
    calibration=None,
    model_scaler=None,
):
    """Test the trained model on every corpus and predict its other partitions.

    Each corpus's ``test`` partition gives the CCC of ``results.json`` and
    ``<corpus>_test.csv``; every partition that is not train/valid/test
    (labeled or not, e.g. an unlabeled challenge set) is predicted into
    ``<corpus>_<partition>.csv`` with the same columns (true values empty
    where unknown). What was predicted is logged.

    Arguments
    ---------
    brain : speechbrain.Brain
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
    calibration : speechbrain_lora_ser.serving.calibration.Calibration, optional
        The served values' calibration: the CCC of the calibrated values is
        recorded too, under ``"calibrated"``.
    model_scaler : speechbrain_lora_ser.modeling.labels.LabelScaler, optional
        The scale the model serves (the calibration's).

    Returns
    -------
    dict
        ``{corpus: {"arousal": ccc, "valence": ccc, "dominance": ccc}}`` on
        the test partitions (the paper's protocol: raw predictions), and with
        a calibration ``"calibrated": {corpus: {...}}``.
    """
    results, written, calibrated = {}, [], {}
    if if_main_process():
        os.makedirs(predictions_folder, exist_ok=True)
    for corpus, partitions in datasets.items():
        others = sorted(p for p in partitions if p not in SPLITS)
        for partition in ["test", *others]:
            dataset = partitions[partition]
            summary, stats = predict(
                brain, dataset, f"{corpus} {partition}", loader_kwargs
            )
            if partition == "test":
                results[corpus] = {key: summary[key] for key in ATTRIBUTES}
                if calibration is not None:
                    calibrated[corpus] = calibrated_ccc(
                        stats, calibration, model_scaler
                    )
            path = os.path.join(predictions_folder, f"{corpus}_{partition}.csv")
            if if_main_process():
                scaler = label_scalers[corpus]
                stats.write_predictions(
                    path,
                    to_original_scale=scaler.unscale,
                    label_range=(scaler.low, scaler.high),
                )
            labeled = sum(
                1 for entry in dataset.data.values() if entry["arousal"] is not None
            )
            written.append(
                f"{corpus} {partition}: {len(dataset)} utterances "
                f"({labeled} labeled) -> {path}"
            )
    logger.info("Predicted:\n  %s", "\n  ".join(written))
    if calibration is not None:
        results["calibrated"] = calibrated
    return results


def calibrated_ccc(stats, calibration, model_scaler):
    """CCC of the calibrated predictions of ``stats`` (labeled rows).

    Predictions and labels are on the model's 0-1 range (labels by their own
    corpus's scale); the calibration works on the scale the model serves, so
    the calibrated values are taken there and back.
    """
    predictions, targets = stats.tensors()
    labeled = ~targets.isnan().any(dim=1)
    served, _ = calibration.apply(
        model_scaler.unscale(predictions[labeled]), withhold=False
    )
    values = ccc(model_scaler.scale(served).double(), targets[labeled].double())
    return dict(zip(ATTRIBUTES, values.tolist(), strict=True))


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
    write_text(
        os.path.join(output_folder, "run_info.json"),
        json.dumps(run_info, indent=2, default=str) + "\n",
    )
    write_json(results_file, results)
