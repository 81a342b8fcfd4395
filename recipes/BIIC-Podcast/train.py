#!/usr/bin/env python3
"""Recipe: arousal, valence and dominance of Taiwanese Mandarin podcast speech.

Trains a self-supervised encoder (WavLM-large or HuBERT-large) with an
attentive-statistics-pooling head on BIIC-Podcast, jointly predicting
arousal, valence and dominance with a CCC loss, in the five configurations
of "Bridging Emotions Across Languages: Low Rank Adaptation for Multilingual
Speech Emotion Recognition" (Goncalves et al., Interspeech 2024).
MSP-Podcast (English) is the other language: FT(dual) and FT+LoRA train
their stage 1 on it (hparams/ft_lora.yaml here is the paper's M->B), and
every model is also tested on it when --cross_data_folder is given.

> python train.py hparams/ft_lora.yaml --data_folder=/data/BIIC-Podcast \
>     --cross_data_folder=/data/MSP-Podcast
> python train.py hparams/finetune.yaml --data_folder=/data/BIIC-Podcast

To read the code, start at ``__main__`` at the bottom: prepare the data,
build the datasets, train the stages the YAML declares (a Brain per stage),
calibrate, test, export. The model is declared in
hparams/models/ser_model.yaml; what the Brain computes, optimises and
checkpoints is ``SERBrain`` below. What the stage loop shares with the other
recipe and is not a Brain hook (stage records, reuse checks, which encoder
parameters train) comes from speechbrain_lora_ser.training.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math
import os
import sys

import torch
from biic_podcast_prepare import prepare_biic_podcast
from hyperpyyaml import load_hyperpyyaml
from msp_podcast_prepare import prepare_msp_podcast
from speechbrain_lora_ser.data.manifests import check_manifests, read_manifests
from speechbrain_lora_ser.export.model_folder import (
    export_inference_folder,
    model_file_of,
)
from speechbrain_lora_ser.modeling.ccc import CCCStats
from speechbrain_lora_ser.training.brain import (
    check_loss_naming_batch,
    layerdrop_run_opts,
    wrap_without_syncbn,
)
from speechbrain_lora_ser.training.results import (
    calibrate,
    test_corpora,
    write_results,
)
from speechbrain_lora_ser.training.stages import (
    adopt_stage1_settings,
    before_adaptation,
    check_stages,
    configure_encoder,
    finish_stage,
    is_finished,
    log_stage_start,
    reuse_stage1,
    route_model_overrides,
    score_before_adaptation,
    stage_record,
)

import speechbrain as sb
from speechbrain.dataio.preprocess import AudioNormalizer
from speechbrain.utils.distributed import if_main_process, run_on_main
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


class SERBrain(sb.Brain):
    """Arousal, valence and dominance from speech, with the CCC loss.

    One Brain trains one stage (``stage``: its name, learning rates and
    checkpointer); the encoder and the head have an optimizer each.
    """

    def __init__(self, stage, **kwargs):
        super().__init__(checkpointer=stage.checkpointer, **kwargs)
        self.stage_name = stage.name
        self.learning_rates = stage.learning_rates
        self.ccc_stats = CCCStats()
        self.batch_ids = []

    def compute_forward(self, batch, stage):
        """Encode the waveforms, pool the hidden states, regress.

        Arguments
        ---------
        batch : PaddedBatch
            ``sig`` (waveforms, relative lengths) and ``labels``.
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        predictions : torch.Tensor
            ``[batch, 3]`` attributes on the model's 0-1 range.
        """
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        hidden, frame_lens = self.modules.ssl(wavs, wav_lens)
        return self.modules.head(hidden, frame_lens)

    def compute_objectives(self, predictions, batch, stage):
        """The CCC loss; evaluation keeps every prediction for the epoch's CCC.

        Arguments
        ---------
        predictions : torch.Tensor
            The output of ``compute_forward``.
        batch : PaddedBatch
            The batch (``labels`` are NaN for unlabeled utterances).
        stage : sb.Stage
            TRAIN, VALID or TEST.

        Returns
        -------
        loss : torch.Tensor
            1 - CCC, averaged over arousal, valence and dominance.
        """
        targets = batch.labels.data.to(predictions.device)
        predictions = predictions.float()
        if stage != sb.Stage.TRAIN:
            self.ccc_stats.append(batch.id, predictions, targets)
        labeled = ~torch.isnan(targets).any(dim=1)
        if not labeled.any():  # an unlabeled partition: predictions only
            return predictions.sum() * 0.0
        return self.hparams.compute_cost(predictions[labeled], targets[labeled])

    def opt_classes(self):
        """The optimizer builder of each module: the encoder's, the head's."""
        return {
            "ssl": self.hparams.encoder_opt_class,
            "head": self.hparams.head_opt_class,
        }

    def init_optimizers(self):
        """One optimizer per trainable module, at the stage's learning rate."""
        self.optimizers_dict = {}
        for name, opt_class in self.opt_classes().items():
            parameters = [
                p for p in self.modules[name].parameters() if p.requires_grad
            ]
            if not parameters:  # a frozen encoder
                continue
            rate = self.learning_rates.get(name)
            kwargs = {} if rate is None else {"lr": rate}
            optimizer = opt_class(parameters, **kwargs)
            self.optimizers_dict[name] = optimizer
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(
                    f"{name}_optimizer", optimizer
                )
        self.optimizer = next(iter(self.optimizers_dict.values()), None)

    def on_stage_start(self, stage, epoch=None):
        """Start a fresh collection of the epoch's predictions."""
        self.ccc_stats = CCCStats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log losses and CCC; keep the best checkpoint by development CCC."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        summary = self.ccc_stats.summarize()
        stats = {"loss": stage_loss}
        stats.update({f"ccc_{name}": value for name, value in summary.items()})
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                {"stage": self.stage_name, "epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ccc": summary["average"], "epoch": epoch},
                max_keys=["ccc"],
            )
        else:
            self.hparams.train_logger.log_stats(
                {"stage": self.stage_name, "test set": self.test_name},
                test_stats=stats,
            )

    def fit_batch(self, batch):
        """Remember the batch's utterances (a non-finite loss names them)."""
        self.batch_ids = list(batch.id)
        return super().fit_batch(batch)

    def check_loss_isfinite(self, loss):
        """SpeechBrain's check (``--nonfinite_patience``), naming the batch."""
        check = super().check_loss_isfinite
        check_loss_naming_batch(
            self, loss, check, self.stage_name, self.batch_ids
        )

    def _wrap_distributed(self):
        """DDP; on CPU processes without SyncBatchNorm (GPU-only)."""
        if not wrap_without_syncbn(self):
            super()._wrap_distributed()


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
            f"{hparams['cross_corpus']} (it is also the cross-lingual test "
            "set, even when --stage1_folder reuses a finished stage 1)"
        )


def prepare_data(hparams):
    """Write both corpora's manifests (once, on the main process).

    With ``--skip_prep=True`` the manifest folders are used as they are
    (written by any preparation, or by hand: ``train.json``, ``valid.json``,
    ``test.json`` and any other ``<partition>.json``) and checked like
    prepared ones: a bad entry stops the run, named with its manifest.
    """
    corpora = {"": prepare_biic_podcast}
    if hparams["cross_data_folder"]:  # the cross-lingual test set
        corpora["cross_"] = prepare_msp_podcast
    for prefix, prepare in corpora.items():
        data_folder = hparams[prefix + "data_folder"]
        manifest_folder = hparams[prefix + "manifest_folder"]
        options = {
            "label_range": (
                hparams[prefix + "label_low"],
                hparams[prefix + "label_high"],
            ),
            "min_duration": hparams["min_duration"],
        }
        if hparams["skip_prep"]:
            options["data_root"] = data_folder
            run_on_main(check_manifests, args=[manifest_folder], kwargs=options)
            continue
        options["skip_invalid"] = hparams["skip_invalid"]
        if not prefix:  # the low-resource study subsets this corpus only
            options["train_subset"] = hparams["train_subset"]
            options["subset_seed"] = hparams["subset_seed"]
        folders = [data_folder, manifest_folder]
        run_on_main(prepare, args=folders, kwargs=options)


def dataio_prep(hparams):
    """Datasets of every prepared partition: ``{corpus: {partition: data}}``.

    A manifest entry is ``{"wav": path, "duration": seconds, "arousal": v,
    "valence": v, "dominance": v}`` (null labels: an unlabeled utterance).
    The audio pipeline reads the file, resamples it to the model's rate and
    mixes it down to mono; the label pipeline puts the attributes on the
    model's 0-1 range (NaN where unlabeled). ``{data_root}`` in a path is
    the corpus's data folder.
    """
    normalizer = AudioNormalizer(sample_rate=hparams["sample_rate"])

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        signal, rate = sb.dataio.audio_io.load(wav, channels_first=False)
        return normalizer(signal, rate)

    def corpus_datasets(manifest_folder, data_folder, label_scaler):
        @sb.utils.data_pipeline.takes("arousal", "valence", "dominance")
        @sb.utils.data_pipeline.provides("labels")
        def label_pipeline(arousal, valence, dominance):
            labels = torch.tensor(
                [
                    math.nan if value is None else float(value)
                    for value in (arousal, valence, dominance)
                ]
            )
            return label_scaler.scale(labels)

        return {
            partition: sb.dataio.dataset.DynamicItemDataset.from_json(
                json_path=path,
                replacements={"data_root": data_folder},
                dynamic_items=[audio_pipeline, label_pipeline],
                output_keys=["id", "sig", "labels"],
            )
            for partition, path in read_manifests(manifest_folder).items()
        }

    datasets = {
        hparams["corpus"]: corpus_datasets(
            hparams["manifest_folder"],
            hparams["data_folder"],
            hparams["label_scaler"],
        )
    }
    if hparams["cross_data_folder"]:
        datasets[hparams["cross_corpus"]] = corpus_datasets(
            hparams["cross_manifest_folder"],
            hparams["cross_data_folder"],
            hparams["cross_label_scaler"],
        )
    return datasets


def export(hparams, hparams_file, results, calibration):
    """Write the model repository that ``EncoderRegressor`` loads."""
    trained_on = " then ".join(
        f"{stage.corpus} ({stage.train})" for stage in hparams["stages"]
    )
    export_inference_folder(
        hparams["inference_folder"],
        model_file=model_file_of(hparams_file),
        model_values=hparams["model"],
        serving={
            "sample_rate": hparams["sample_rate"],
            "label_low": hparams["label_low"],
            "label_high": hparams["label_high"],
            "window_seconds": hparams["window_seconds"],
            "hop_seconds": hparams["hop_seconds"],
        },
        modules=hparams["modules"],
        lora_config=hparams["lora_config"],
        merge_lora_weights=hparams["merge_lora_on_export"],
        calibration=calibration,
        card={
            "title": f"{hparams['configuration']}: {hparams['corpus']}, "
            f"{os.path.basename(str(hparams['ssl_hub']))}",
            "configuration": hparams["configuration"],
            "encoder": hparams["ssl_hub"],
            "trained_on": trained_on,
            "calibrated_on": hparams["corpus"],
            "results": {
                corpus: values
                for corpus, values in results.items()
                if corpus in (hparams["corpus"], hparams["cross_corpus"])
            },
        },
    )


def run_info(hparams, records):
    """What ``results.json`` records about the run (beside its results)."""
    ranges = {
        hparams[prefix + "corpus"]: [
            hparams[prefix + "label_low"],
            hparams[prefix + "label_high"],
        ]
        for prefix in ("", "cross_")
    }
    keys = ("configuration", "corpus", "cross_corpus", "ssl_hub", "seed")
    return {
        **{key: hparams[key] for key in keys},
        "train_subset": hparams["train_subset"],
        "label_ranges": ranges,
        "stages": [
            {"name": s.name, "train": s.train, "corpus": s.corpus}
            for s in hparams["stages"]
        ],
        "stage_fingerprints": records,
    }


def train_stage(brain, stage, data, hparams):
    """Train one stage from where it stopped (its checkpointer resumes it)."""
    train_set, train_kwargs = hparams["train_loader"].for_dataset(
        data["train"], brain.grad_accumulation_factor
    )
    brain.fit(
        stage.epoch_counter,
        train_set=train_set,
        valid_set=data["valid"],
        train_loader_kwargs=train_kwargs,
        valid_loader_kwargs=dict(hparams["valid_loader_options"]),
    )


if __name__ == "__main__":
    # Command line: the YAML, SpeechBrain's run options, and overrides; a
    # reused stage 1 (--stage1_folder) brings the settings it was trained
    # with; the model's numbers go to the model file that declares them.
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    overrides, taken = adopt_stage1_settings(hparams_file, overrides)
    overrides = route_model_overrides(hparams_file, overrides)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if taken:
        logger.info(
            "Settings taken from the reused stage 1 (%s): %s",
            hparams["stage1_folder"],
            ", ".join(f"{key}={value!r}" for key, value in taken.items()),
        )

    # Data: validated manifests, then datasets.
    check_data_folders(hparams, hparams_file)
    prepare_data(hparams)
    datasets = dataio_prep(hparams)

    # Train the stages the YAML declares, a Brain per stage. Each resumes
    # where it stopped; a finished one (or stage 1 of --stage1_folder) is
    # reused when its record matches this run's, and refused otherwise.
    stages, modules = hparams["stages"], hparams["modules"]
    check_stages(stages, datasets, hparams["stage1_folder"])
    run_opts = layerdrop_run_opts(run_opts, modules["ssl"])
    valid_options, records = hparams["valid_loader_options"], {}
    for index, stage in enumerate(stages):
        configure_encoder(modules["ssl"], stage.train, hparams["lora_config"])
        brain = SERBrain(
            stage, modules=modules, hparams=hparams, run_opts=run_opts
        )
        data = datasets[stage.corpus]
        rates = stage.learning_rates_of(brain.opt_classes())
        record = stage_record(stage, brain, data, hparams, rates)
        records[stage.name] = record
        if index == 0 and hparams["stage1_folder"]:
            reuse_stage1(stage, hparams["stage1_folder"], record, brain)
            continue
        if index > 0:  # the cross-lingual baseline, before the stage adapts
            previous = stages[index - 1]
            score_before_adaptation(brain, previous, stage, data, valid_options)
        log_stage_start(brain, stage, record["effective_batch"])
        if not is_finished(stage, record):
            train_stage(brain, stage, data, hparams)
            finish_stage(stage, record)  # its best epoch stays loaded

    # Calibrate the served values on the development set; test on every
    # corpus (and predict their other partitions); export.
    label_scalers = {
        hparams["corpus"]: hparams["label_scaler"],
        hparams["cross_corpus"]: hparams["cross_label_scaler"],
    }
    calibration = calibrate(
        brain,
        datasets[hparams["corpus"]]["valid"],
        hparams["label_scaler"],
        hparams["test_loader_options"],
        f"{hparams['corpus']} valid",
    )
    results = test_corpora(
        brain,
        datasets,
        label_scalers,
        hparams["test_loader_options"],
        hparams["predictions_folder"],
        calibration=calibration,
        model_scaler=hparams["label_scaler"],
    )
    if if_main_process():
        export(hparams, hparams_file, results, calibration)
        results["before_adaptation"] = before_adaptation(stages, results)
        write_results(
            hparams["output_folder"],
            hparams["results_file"],
            run_info=run_info(hparams, records),
            results={**results, "calibration": calibration.to_dict()},
        )
