r"""The adapter bank: one model for many languages, routed without a language tag.

A bank holds one frozen encoder (a FineTuned run's: language 1) and, for each
further language, the LoRA adapter and head of an FT+LoRA run whose stage 1
is that encoder. A small language router reads the frozen encoder's front
end (log energies of its first convolutional layer over 10-ms frames, a
learned filterbank shared by every adapter, pooled over time), so each
utterance of a batch is
routed before the transformer runs, and the batch
then goes through the transformer once, each utterance with its own adapter
(peft's mixed-batch LoRA), and through its language's head. Low-confidence
audio goes to the base model (threshold ``min_language_probability`` in the
bank's YAML). Adding a language adds its adapter and head and retrains only
the router; the other languages' weights are copied unchanged.

> python -m speechbrain_lora_ser.bank build --base RUN --adapter RUN \
>     [--adapter RUN ...] --output BANK
> python -m speechbrain_lora_ser.bank add --bank BANK --adapter RUN

The bank loads like any export:
``EncoderRegressor.from_hparams(source=BANK, savedir=...)``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import logging
import os
import shutil
import sys

import torch
from ruamel.yaml import YAML
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_lora_ser.labels import LabelScaler
from speechbrain_lora_ser.lora import add_lora, lora_config
from speechbrain_lora_ser.model import SSLEncoder, emotion_head

logger = logging.getLogger(__name__)

DESCRIPTION = "bank.json"
BASE = "__base__"  # peft's name for "no adapter" in a mixed batch

BANK_YAML = """\
# ############################################################################
# Adapter bank (written by python -m speechbrain_lora_ser.bank): one frozen
# encoder, a LoRA adapter and a head per language, and a language router.
# Load with EncoderRegressor.from_hparams(source=<this folder>, savedir=...).
# bank.json says which runs each language comes from.
# ############################################################################

model_folder: !PLACEHOLDER  # this folder (EncoderRegressor sets it)

sample_rate: {sample_rate}
# Recordings longer than window_seconds are predicted in windows every
# hop_seconds; the values are averaged.
window_seconds: {window_seconds}
hop_seconds: {hop_seconds}
# An utterance whose most likely language has a lower probability than this
# goes to the base model ({base}).
min_language_probability: {min_language_probability}

bank: !new:speechbrain_lora_ser.bank.AdapterBank
    description: !ref <model_folder>/bank.json
    min_language_probability: !ref <min_language_probability>

label_scaler: !apply:getattr [!ref <bank>, base_scaler]

modules:
    ssl: !apply:getattr [!ref <bank>, encoder]
    head: !ref <bank>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        bank: !ref <bank>
    paths:
        bank: !ref <model_folder>/bank.ckpt
"""


class _FeaturesReady(Exception):
    """Stops a forward pass once the router's features are computed."""


#: Quantiles of each channel's log energy over time, beside mean and std.
QUANTILES = (0.1, 0.5, 0.9)
#: Energies are averaged over this many first-convolution frames (10 ms at
#: 16 kHz for WavLM / HuBERT, whose first convolution has a stride of 5).
ENERGY_FRAMES = 32


def pooled_statistics(values, mask):
    """Mean, std and quantiles over the real frames: ``[batch, 5 * dim]``.

    The quantiles describe the spread of each channel's level (quiet and
    loud parts), which a mean and a standard deviation summarise poorly.

    Example
    -------
    >>> values = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> pooled_statistics(values, torch.tensor([[True, True, False]]))
    tensor([[2.0000, 1.0000, 1.2000, 2.0000, 2.8000]])
    """
    rows = []
    quantiles = torch.tensor(QUANTILES, device=values.device, dtype=values.dtype)
    for row, keep in zip(values, mask, strict=True):
        real = row[keep] if keep.any() else row[:1]
        mean = real.mean(0)
        std = real.std(0, correction=0)
        rows.append(
            torch.cat([mean, std, torch.quantile(real, quantiles, dim=0).flatten()])
        )
    return torch.stack(rows)


class LanguageRouter(torch.nn.Module):
    """Language probabilities from pooled front-end features (logistic regression).

    Arguments
    ---------
    input_size : int
        Width of the pooled features (2 x the encoder's hidden size).
    languages : int
        Number of languages.

    Example
    -------
    >>> router = LanguageRouter(4, 3)
    >>> probabilities = router(torch.randn(2, 4))
    >>> probabilities.shape, round(float(probabilities.sum()), 4)
    (torch.Size([2, 3]), 2.0)
    """

    def __init__(self, input_size, languages):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))
        self.linear = torch.nn.Linear(input_size, languages)

    def forward(self, features):
        """Probabilities ``[batch, languages]``."""
        return self.linear((features - self.mean) / self.std).softmax(-1)

    def fit(self, features, labels, valid_features, valid_labels, steps=300):
        """Train on standardised features; the L2 weight is chosen on dev.

        The weight with the lowest development cross-entropy wins (not the
        highest accuracy, which ties easily on small sets and then favours
        an over-confident router).

        Returns
        -------
        float
            Development accuracy of the chosen model.
        """
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp_min(1e-6))
        counts = torch.bincount(labels, minlength=self.linear.out_features).float()
        class_weights = counts.sum() / counts.clamp_min(1) / len(counts)
        best = None
        for decay in (0.0, 1e-4, 1e-3, 1e-2, 1e-1):
            torch.manual_seed(0)
            self.linear.reset_parameters()
            optimizer = torch.optim.Adam(self.linear.parameters(), lr=0.05)
            inputs = (features - self.mean) / self.std
            for _ in range(steps):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(
                    self.linear(inputs), labels, weight=class_weights
                )
                loss = loss + decay * self.linear.weight.pow(2).sum()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                probabilities = self(valid_features)
                accuracy = (probabilities.argmax(-1) == valid_labels).float().mean()
                entropy = torch.nn.functional.nll_loss(
                    probabilities.clamp_min(1e-12).log(), valid_labels
                ).item()
            if best is None or entropy < best[0]:
                state = {k: v.clone() for k, v in self.state_dict().items()}
                best = (entropy, accuracy.item(), state)
        self.load_state_dict(best[2])
        return best[1]


class AdapterBank(torch.nn.Module):
    """One frozen encoder, an adapter and a head per language, and a router.

    Arguments
    ---------
    description : str
        The bank's ``bank.json`` (languages, base, adapters' LoRA settings,
        heads' sizes, label scales); the encoder's configuration is in the
        ``encoder/`` folder beside it.
    min_language_probability : float
        Utterances whose most likely language is less probable than this go
        to the base model.

    Example
    -------
    >>> import tempfile, json
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_tiny_encoder(os.path.join(folder, "encoder"))
    >>> head = {"attention_channels": 8, "hidden_size": 8}
    >>> with open(os.path.join(folder, "bank.json"), "w") as f:
    ...     json.dump({"languages": ["A", "B"], "normalize_waveform": True,
    ...         "adapters": {"B": {"rank": 2}}, "heads": {"A": head, "B": head},
    ...         "label_ranges": {"A": [1, 7], "B": [1, 5]}}, f)
    >>> bank = AdapterBank(os.path.join(folder, "bank.json")).eval()
    >>> values, routes, _ = bank(torch.randn(2, 16000), torch.ones(2), language="B")
    >>> values.shape, routes
    (torch.Size([2, 3]), [1, 1])
    """

    def __init__(self, description, min_language_probability=0.5):
        super().__init__()
        with open(description, encoding="utf-8") as handle:
            info = json.load(handle)
        folder = os.path.dirname(os.path.abspath(description))
        self.languages = list(info["languages"])
        self.base_language = self.languages[0]
        self.min_language_probability = float(min_language_probability)
        self.encoder = SSLEncoder(
            os.path.join(folder, "encoder"),
            from_config=True,
            normalize_waveform=info["normalize_waveform"],
        )
        for language in self.languages[1:]:
            settings = info["adapters"][language]
            add_lora(self.encoder.model, lora_config(**settings), adapter_name=language)
        self.heads = torch.nn.ModuleDict(
            {
                str(i): emotion_head(
                    self.encoder.hidden_size, **info["heads"][language]
                )
                for i, language in enumerate(self.languages)
            }
        )
        self.scalers = [
            LabelScaler(*info["label_ranges"][lang]) for lang in self.languages
        ]
        config = self.encoder.model.config
        self._first_conv = (config.conv_kernel[0], config.conv_stride[0])
        self.router = LanguageRouter(
            (2 + len(QUANTILES)) * config.conv_dim[0], len(self.languages)
        )
        self._route = self._features = self._capture = self._frames = None
        self._forced = None
        self.encoder.model.feature_extractor.conv_layers[0].register_forward_hook(
            self._features_hook
        )
        self.encoder.model.encoder.register_forward_pre_hook(
            self._route_hook, with_kwargs=True
        )
        for module in self.encoder.model.modules():
            if hasattr(module, "lora_A"):
                module.register_forward_pre_hook(self._adapter_hook, with_kwargs=True)

    @property
    def base_scaler(self):
        """The base language's label scale."""
        return self.scalers[0]

    def index(self, language):
        """Position of a language in the bank (clear error if unknown)."""
        if language not in self.languages:
            raise ValueError(
                f"language {language!r} is not in this bank; it has {self.languages}"
            )
        return self.languages.index(language)

    # hooks -----------------------------------------------------------------
    def _features_hook(self, module, args, output):
        """Router features: statistics of the first convolution's log energies.

        The channels' energies over 10-ms frames (a learned filterbank), in
        log, summarised over the real frames by mean, std and quantiles.
        """
        power = torch.nn.functional.avg_pool1d(
            output.float().pow(2), ENERGY_FRAMES, ENERGY_FRAMES
        )
        frames = torch.arange(power.shape[-1], device=output.device)
        real = (self._frames // ENERGY_FRAMES).clamp_min(1).to(output.device)
        mask = frames[None, :] < real[:, None]
        energies = torch.log(power + 1e-4).transpose(1, 2)
        self._features = pooled_statistics(energies, mask)
        if self._capture is not None:
            self._capture.append(self._features.detach())
            raise _FeaturesReady

    def _route_hook(self, module, args, kwargs):
        """Route every utterance before the transformer (its input is shared)."""
        probabilities = self.router(self._features)
        best_probability, best = probabilities.max(-1)
        routes, chosen = [], []
        for row in range(probabilities.shape[0]):
            if self._forced is not None:
                index, probability = self._forced, 1.0
            elif best_probability[row] < self.min_language_probability:
                index, probability = 0, float(probabilities[row, 0])
            else:
                index, probability = int(best[row]), float(best_probability[row])
            routes.append(index)
            chosen.append(probability)
        self._route = (routes, chosen, probabilities.detach())

    def _set_frames(self, wavs, wav_lens):
        """Frames of the first convolution that hold real audio."""
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=wavs.device)
        samples = torch.round(wav_lens * wavs.shape[-1]).long()
        kernel, stride = self._first_conv
        self._frames = ((samples - kernel) // stride + 1).clamp_min(1)

    def _adapter_hook(self, module, args, kwargs):
        kwargs["adapter_names"] = [
            BASE if i == 0 else self.languages[i] for i in self._route[0]
        ]
        return args, kwargs

    # inference ---------------------------------------------------------------
    def front_features(self, wavs, wav_lens):
        """Compute the router's input features (only the first convolution runs)."""
        self._set_frames(wavs, wav_lens)
        self._capture = []
        try:
            self.encoder(wavs, wav_lens)
        except _FeaturesReady:
            pass
        finally:
            captured, self._capture = self._capture, None
        return captured[0]

    def forward(self, wavs, wav_lens, language=None, embeddings=False):
        """Route, encode and rate a batch.

        Arguments
        ---------
        wavs, wav_lens : torch.Tensor
            Padded 16 kHz waveforms and relative lengths.
        language : str, optional
            Skip routing: every utterance is this language.
        embeddings : bool
            Return each utterance's pooled embedding instead of values.

        Returns
        -------
        values : torch.Tensor
            ``[batch, 3]`` on each utterance's language's scale (raw), or the
            pooled embeddings.
        routes : list of int
            Each utterance's language (index into ``languages``).
        probabilities : list of float
            The router's probability of that language (1.0 when given).
        """
        self._forced = None if language is None else self.index(language)
        self._set_frames(wavs, wav_lens)
        try:
            hidden, frame_lens = self.encoder(wavs, wav_lens)
            routes, chosen, _ = self._route
        finally:
            self._forced = self._route = self._features = None
        outputs = [None] * len(routes)
        for index in sorted(set(routes)):
            rows = [r for r, i in enumerate(routes) if i == index]
            head = self.heads[str(index)]
            if embeddings:
                result = head.pool(hidden[rows], frame_lens[rows])
            else:
                result = self.scalers[index].unscale(
                    head(hidden[rows], frame_lens[rows]).float()
                )
            for row, value in zip(rows, result, strict=True):
                outputs[row] = value
        return torch.stack(outputs), routes, chosen


# ---------------------------------------------------------------------------
# Building a bank from finished runs
# ---------------------------------------------------------------------------
def _yaml_values(path):
    with open(path, encoding="utf-8") as handle:
        return YAML().load(handle)


def read_run(folder):
    """Read what a bank needs from a finished run folder.

    Returns
    -------
    dict
        ``folder``, ``corpus``, ``stages`` (modes), the best checkpoint of
        its last stage, head and LoRA settings, label range, manifests.

    Example
    -------
    >>> import tempfile
    >>> read_run(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: not a finished run (no results.json)
    """
    folder = os.path.abspath(folder)
    info_file = os.path.join(folder, "run_info.json")
    if not os.path.isfile(os.path.join(folder, "results.json")) or not os.path.isfile(
        info_file
    ):
        raise FileNotFoundError(f"{folder}: not a finished run (no results.json)")
    with open(info_file, encoding="utf-8") as handle:
        info = json.load(handle)
    hparams = _yaml_values(os.path.join(folder, "hyperparams.yaml"))
    last = info["stages"][-1]["name"]
    checkpoint = Checkpointer(os.path.join(folder, "save", last)).find_checkpoint(
        max_key="ccc"
    )
    if checkpoint is None:
        raise FileNotFoundError(f"{folder}/save/{last}: no checkpoint")
    return {
        "folder": folder,
        "corpus": info["corpus"],
        "modes": [stage["train"] for stage in info["stages"]],
        "checkpoint": str(checkpoint.path),
        "head": {
            "attention_channels": int(hparams["attention_channels"]),
            "hidden_size": int(hparams["head_hidden_size"]),
            "dropout": float(hparams["head_dropout"]),
            "n_outputs": int(hparams["n_attributes"]),
        },
        "lora": {
            "rank": int(hparams["lora_rank"]),
            "alpha": float(hparams["lora_alpha"]),
            "dropout": float(hparams["lora_dropout"]),
            "target_modules": [str(t) for t in hparams["lora_targets"]],
        },
        "label_range": [float(hparams["label_low"]), float(hparams["label_high"])],
        "normalize_waveform": bool(hparams["normalize_waveform"]),
        "sample_rate": int(hparams["sample_rate"]),
        "window_seconds": float(hparams["window_seconds"]),
        "hop_seconds": float(hparams["hop_seconds"]),
        "manifests": os.path.join(folder, "manifests", info["corpus"]),
        "encoder_config": os.path.join(folder, "inference", "encoder"),
    }


def _load(checkpoint, name):
    return torch.load(os.path.join(checkpoint, f"{name}.ckpt"), weights_only=True)


def _check_adapter(base, adapter, adapter_state, base_state):
    """Refuse an adapter whose frozen encoder is not the base's."""
    for key, value in adapter_state.items():
        if "lora_" in key:
            continue
        base_key = key.replace(".base_layer", "")
        if base_key not in base_state or not torch.equal(base_state[base_key], value):
            raise ValueError(
                f"--adapter {adapter['folder']}: its stage 1 is not the base "
                f"{base['folder']}: the frozen encoder differs at {base_key}"
            )


def build_bank(
    base_run,
    adapter_runs,
    output,
    min_language_probability=0.5,
    max_utterances=2000,
    batch_size=8,
):
    """Build a bank folder from a FineTuned run and FT+LoRA runs.

    Arguments
    ---------
    base_run : str
        A finished FineTuned run (language 1: its encoder and head).
    adapter_runs : list of str
        Finished FT+LoRA runs whose stage 1 is ``base_run``'s encoder.
    output : str
        The bank folder to write.
    min_language_probability : float
        Routing threshold written into the bank's YAML.
    max_utterances : int
        Utterances per language and partition used to train the router.
    batch_size : int
        Utterances per forward pass when computing router features.

    Returns
    -------
    dict
        The router's development accuracy per language.

    Example
    -------
    >>> import tempfile
    >>> build_bank(tempfile.mkdtemp(), [], tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: not a finished run (no results.json)
    """
    base = read_run(base_run)
    if base["modes"] != ["finetune"]:
        raise ValueError(
            f"--base {base['folder']}: not a FineTuned run (its stages train "
            f"{base['modes']})"
        )
    adapters = [read_run(run) for run in adapter_runs]
    for adapter in adapters:
        if adapter["modes"] != ["finetune", "lora"]:
            raise ValueError(
                f"--adapter {adapter['folder']}: not an FT+LoRA run (its stages "
                f"train {adapter['modes']}; expected ['finetune', 'lora'])"
            )
    languages = [base["corpus"]] + [a["corpus"] for a in adapters]
    if len(set(languages)) != len(languages):
        raise ValueError(f"two runs for the same language in {languages}")
    base_state = _load(base["checkpoint"], "ssl")
    adapter_states = []
    for adapter in adapters:
        state = _load(adapter["checkpoint"], "ssl")
        _check_adapter(base, adapter, state, base_state)
        adapter_states.append(state)

    os.makedirs(output, exist_ok=True)
    shutil.copytree(
        base["encoder_config"], os.path.join(output, "encoder"), dirs_exist_ok=True
    )
    runs = [base, *adapters]
    description = {
        "languages": languages,
        "normalize_waveform": base["normalize_waveform"],
        "adapters": {a["corpus"]: a["lora"] for a in adapters},
        "heads": {run["corpus"]: run["head"] for run in runs},
        "label_ranges": {run["corpus"]: run["label_range"] for run in runs},
        "runs": {"base": base["folder"], "adapters": [a["folder"] for a in adapters]},
    }
    with open(os.path.join(output, DESCRIPTION), "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2)
    bank = AdapterBank(os.path.join(output, DESCRIPTION), min_language_probability)
    state = {}
    for key in bank.encoder.state_dict():
        if ".lora_" in key:
            language = next(lang for lang in languages[1:] if f".{lang}." in key)
            source = adapter_states[languages.index(language) - 1]
            state[key] = source[key.replace(f".{language}.", ".default.")]
        else:
            state[key] = base_state[key.replace(".base_layer", "")]
    bank.encoder.load_state_dict(state)
    for index, run in enumerate(runs):
        bank.heads[str(index)].load_state_dict(_load(run["checkpoint"], "head"))
    accuracy = _train_router(bank, runs, max_utterances, batch_size)
    torch.save(
        {k: v.detach().cpu() for k, v in bank.state_dict().items()},
        os.path.join(output, "bank.ckpt"),
    )
    with open(os.path.join(output, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(
            BANK_YAML.format(
                sample_rate=base["sample_rate"],
                window_seconds=base["window_seconds"],
                hop_seconds=base["hop_seconds"],
                min_language_probability=min_language_probability,
                base=languages[0],
            )
        )
    description["router_dev_accuracy"] = accuracy
    with open(os.path.join(output, DESCRIPTION), "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2)
    return accuracy


def _router_data(bank, runs, split, max_utterances, batch_size):
    from speechbrain_lora_ser.corpus import read_manifests
    from speechbrain_lora_ser.pipeline import make_datasets

    features, labels = [], []
    for index, run in enumerate(runs):
        manifests = read_manifests(run["manifests"])
        dataset = make_datasets(
            {split: manifests[split]}, LabelScaler(*run["label_range"]), 16000
        )[split]
        count = min(len(dataset), max_utterances)
        for start in range(0, count, batch_size):
            positions = range(start, min(start + batch_size, count))
            wavs = [dataset[position]["sig"] for position in positions]
            longest = max(w.shape[0] for w in wavs)
            batch = torch.zeros(len(wavs), longest)
            for row, wav in enumerate(wavs):
                batch[row, : wav.shape[0]] = wav
            lens = torch.tensor([w.shape[0] / longest for w in wavs])
            with torch.no_grad():
                features.append(bank.front_features(batch, lens))
            labels += [index] * len(wavs)
    return torch.cat(features), torch.tensor(labels)


def _train_router(bank, runs, max_utterances=2000, batch_size=8):
    """Train the bank's router on the runs' own training and dev partitions.

    Returns
    -------
    dict
        Development accuracy per language.
    """
    bank.eval()
    train = _router_data(bank, runs, "train", max_utterances, batch_size)
    valid = _router_data(bank, runs, "valid", max_utterances, batch_size)
    with torch.enable_grad():
        bank.router.fit(*train, *valid)
    with torch.no_grad():
        predicted = bank.router(valid[0]).argmax(-1)
    return {
        language: float((predicted[valid[1] == i] == i).float().mean())
        for i, language in enumerate(bank.languages)
    }


def add_to_bank(bank_folder, adapter_run, **options):
    """Add a language (one more FT+LoRA run) to a bank; only the router retrains.

    Returns
    -------
    dict
        The router's development accuracy per language.

    Example
    -------
    >>> import tempfile
    >>> add_to_bank(tempfile.mkdtemp(), "run")
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...bank.json...
    """
    with open(os.path.join(bank_folder, DESCRIPTION), encoding="utf-8") as handle:
        runs = json.load(handle)["runs"]
    yaml = _yaml_values(os.path.join(bank_folder, "hyperparams.yaml"))
    options.setdefault(
        "min_language_probability", float(yaml["min_language_probability"])
    )
    return build_bank(
        runs["base"], [*runs["adapters"], adapter_run], bank_folder, **options
    )


def main(argv=None):
    """Command line: ``build`` and ``add``; returns the exit status.

    Example
    -------
    >>> import tempfile
    >>> main(["build", "--base", tempfile.mkdtemp(), "--output", tempfile.mkdtemp()])
    1
    """
    parser = argparse.ArgumentParser(prog="python -m speechbrain_lora_ser.bank")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="a bank from finished runs")
    build.add_argument("--base", required=True, help="a finished FineTuned run")
    build.add_argument(
        "--adapter", action="append", default=[], help="a finished FT+LoRA run"
    )
    build.add_argument("--output", required=True, help="the bank folder")
    add = commands.add_parser("add", help="add a language to a bank")
    add.add_argument("--bank", required=True)
    add.add_argument("--adapter", required=True, help="a finished FT+LoRA run")
    for command in (build, add):
        command.add_argument("--min_language_probability", type=float, default=None)
        command.add_argument("--max_utterances", type=int, default=2000)
    args = parser.parse_args(argv)
    options = {"max_utterances": args.max_utterances}
    if args.min_language_probability is not None:
        options["min_language_probability"] = args.min_language_probability
    try:
        if args.command == "build":
            accuracy = build_bank(args.base, args.adapter, args.output, **options)
            folder = args.output
        else:
            accuracy = add_to_bank(args.bank, args.adapter, **options)
            folder = args.bank
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"bank written to {folder}")
    for language, value in accuracy.items():
        print(f"  router accuracy on {language} development set: {value:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
