#!/usr/bin/env python3
"""Recipe: arousal, valence and dominance of Taiwanese Mandarin podcast speech.

Trains a self-supervised encoder (WavLM-large or HuBERT-large) with an
attentive-statistics-pooling head on BIIC-Podcast, jointly predicting
arousal, valence and dominance with a CCC loss, in the five configurations of
"Bridging Emotions Across Languages: Low Rank Adaptation for Multilingual
Speech Emotion Recognition" (Goncalves et al., Interspeech 2024).
MSP-Podcast (English) is the other language: FT(dual) and FT+LoRA train
their stage 1 on it (hparams/ft_lora.yaml here is the paper's M->B), and
every model is also tested on it when --cross_data_folder is given.

> python train.py hparams/ft_lora.yaml --data_folder=/data/BIIC-Podcast \
>     --cross_data_folder=/data/MSP-Podcast
> python train.py hparams/finetune.yaml --data_folder=/data/BIIC-Podcast

To read the code, start at ``__main__`` at the bottom: prepare the data,
build the datasets, train the stages the YAML declares, test, export.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import sys

import speechbrain as sb
from biic_podcast_prepare import prepare_biic_podcast
from hyperpyyaml import load_hyperpyyaml
from msp_podcast_prepare import prepare_msp_podcast
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_lora_ser.brain import EmotionBrain
from speechbrain_lora_ser.corpus import read_manifests
from speechbrain_lora_ser.export import export_inference_folder
from speechbrain_lora_ser.pipeline import make_datasets
from speechbrain_lora_ser.results import test_corpora, write_results

INFERENCE_HPARAMS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "hparams", "inference.yaml"
)


def check_data_folders(hparams, hparams_file):
    """Stop early, with the fix, when a stage needs the cross corpus."""
    needs_cross = [
        stage.name
        for stage in hparams["stages"]
        if stage.corpus == hparams["cross_corpus"]
    ]
    if needs_cross and not hparams["cross_data_folder"]:
        raise SystemExit(
            f"{hparams_file}: {', '.join(needs_cross)} trains on "
            f"{hparams['cross_corpus']}: pass --cross_data_folder=/path/to/"
            f"{hparams['cross_corpus']} (it is also the cross-lingual test set, "
            "even when --stage1_folder reuses a finished stage 1)"
        )


def prepare_data(hparams):
    """Write both corpora's manifests (once, on the main process)."""
    if hparams["skip_prep"]:
        return
    run_on_main(
        prepare_biic_podcast,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["manifest_folder"],
            "label_range": (hparams["label_low"], hparams["label_high"]),
            "train_subset": hparams["train_subset"],
            "subset_seed": hparams["subset_seed"],
            "skip_invalid": hparams["skip_invalid"],
            "min_duration": hparams["min_duration"],
        },
    )
    if hparams["cross_data_folder"]:
        run_on_main(
            prepare_msp_podcast,
            kwargs={
                "data_folder": hparams["cross_data_folder"],
                "save_folder": hparams["cross_manifest_folder"],
                "label_range": (
                    hparams["cross_label_low"],
                    hparams["cross_label_high"],
                ),
                "skip_invalid": hparams["skip_invalid"],
                "min_duration": hparams["min_duration"],
            },
        )


def dataio_prep(hparams):
    """Datasets of every prepared partition: ``{corpus: {partition: dataset}}``."""
    datasets = {
        hparams["corpus"]: make_datasets(
            read_manifests(hparams["manifest_folder"]),
            hparams["label_scaler"],
            hparams["sample_rate"],
        )
    }
    if hparams["cross_data_folder"]:
        datasets[hparams["cross_corpus"]] = make_datasets(
            read_manifests(hparams["cross_manifest_folder"]),
            hparams["cross_label_scaler"],
            hparams["sample_rate"],
        )
    return datasets


def export(hparams):
    """Write the inference folder that ``EncoderRegressor.from_hparams`` loads."""
    export_inference_folder(
        hparams["inference_folder"],
        template=INFERENCE_HPARAMS,
        modules=hparams["modules"],
        values={
            "sample_rate": hparams["sample_rate"],
            "label_low": hparams["label_low"],
            "label_high": hparams["label_high"],
            "window_seconds": hparams["window_seconds"],
            "hop_seconds": hparams["hop_seconds"],
            "normalize_waveform": hparams["normalize_waveform"],
            "attention_channels": hparams["attention_channels"],
            "head_hidden_size": hparams["head_hidden_size"],
            "head_dropout": hparams["head_dropout"],
            "n_attributes": hparams["n_attributes"],
        },
        lora_config=hparams["lora_config"],
        merge_lora_weights=hparams["merge_lora_on_export"],
    )


if __name__ == "__main__":
    # Command line: the YAML, SpeechBrain's run options, and overrides.
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    # Data: validated manifests, then datasets.
    check_data_folders(hparams, hparams_file)
    prepare_data(hparams)
    datasets = dataio_prep(hparams)

    # Train the stages the YAML declares (resuming where a run stopped).
    brain = EmotionBrain(
        modules=hparams["modules"],
        compute_cost=hparams["compute_cost"],
        encoder_opt_class=hparams["encoder_opt_class"],
        head_opt_class=hparams["head_opt_class"],
        lora_config=hparams["lora_config"],
        train_logger=hparams["train_logger"],
        hparams=hparams,
        run_opts=run_opts,
    )
    fingerprints = brain.fit_stages(
        hparams["stages"],
        datasets,
        train_loader=hparams["train_loader"],
        valid_loader_kwargs=hparams["valid_loader_options"],
        stage1_folder=hparams["stage1_folder"],
    )

    # Test on every corpus (and predict their other partitions), then export.
    results = test_corpora(
        brain,
        datasets,
        label_scalers={
            hparams["corpus"]: hparams["label_scaler"],
            hparams["cross_corpus"]: hparams["cross_label_scaler"],
        },
        loader_kwargs=hparams["test_loader_options"],
        predictions_folder=hparams["predictions_folder"],
    )
    if if_main_process():
        export(hparams)
        write_results(
            hparams["output_folder"],
            hparams["results_file"],
            run_info={
                "configuration": hparams["configuration"],
                "corpus": hparams["corpus"],
                "cross_corpus": hparams["cross_corpus"],
                "ssl_hub": hparams["ssl_hub"],
                "seed": hparams["seed"],
                "train_subset": hparams["train_subset"],
                "stages": [
                    {"name": s.name, "train": s.train, "corpus": s.corpus}
                    for s in hparams["stages"]
                ],
                "stage_fingerprints": fingerprints,
            },
            results=results,
        )
