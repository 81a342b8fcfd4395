"""SpeechBrain's ``from_hparams`` with the YAML checked and weights strict.

``load_pretrained`` follows ``speechbrain.inference.interfaces.
pretrained_from_hparams`` (same arguments, same fetching) with two changes:
the model's YAML is checked by ``model_trust.check_yaml`` before anything in
it is built, and the ``Pretrainer`` loads every module strictly
(``weights.strict_hooks``).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import tempfile

from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch

from speechbrain_lora_ser.modeling.weights import strict_hooks
from speechbrain_lora_ser.serving.model_trust import check_yaml, trusting


def load_pretrained(
    cls,
    source,
    hparams_file="hyperparams.yaml",
    overrides=None,
    overrides_must_match=True,
    savedir=None,
    download_only=False,
    local_strategy=LocalStrategy.SYMLINK,
    fetch_config=None,
    trust_code=False,
    **kwargs,
):
    """Fetch, check and load a model; see ``EncoderRegressor.from_hparams``."""
    fetch_config = fetch_config or FetchConfig()
    check_model_folder(source, hparams_file)
    hparams_path = fetch_hparams(
        source, savedir, hparams_file, local_strategy, fetch_config
    )
    # a local model's own file is named (not its link in ``savedir``)
    local = os.path.join(str(source), hparams_file)
    check_yaml(local if os.path.isfile(local) else hparams_path, trust_code)
    with trusting(trust_code), open(hparams_path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides or {}, overrides_must_match)
    hparams["savedir"] = savedir
    pretrainer = hparams["pretrainer"]
    pretrainer.set_collect_in(savedir)
    pretrainer.collect_files(
        default_source=source,
        local_strategy=local_strategy,
        fetch_config=fetch_config,
    )
    if download_only:
        return None
    strict_hooks(pretrainer)
    pretrainer.load_collected()
    return cls(modules=hparams["modules"], hparams=hparams, **kwargs)


def fetch_hparams(
    source,
    savedir,
    hparams_file="hyperparams.yaml",
    local_strategy=LocalStrategy.SYMLINK,
    fetch_config=None,
):
    """Fetch a model's YAML into ``savedir``; a source with none is named.

    Raises
    ------
    NotAModelFolder
        No such folder, and no model repository of that name.

    Example
    -------
    >>> fetch_hparams("/no/such/model", tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.model_loading.NotAModelFolder: /no/such/model: \
no such folder, and no model repository of that name could be fetched \
(HFValidationError)
    """
    try:
        return fetch(
            filename=hparams_file,
            source=source,
            savedir=savedir,
            save_filename=None,
            local_strategy=local_strategy,
            fetch_config=fetch_config or FetchConfig(),
        )
    except (OSError, ValueError) as error:  # the Hub's errors are both
        if os.path.isdir(str(source)):
            raise
        raise NotAModelFolder(
            f"{source}: no such folder, and no model repository of that name "
            f"could be fetched ({type(error).__name__})"
        ) from error


def check_model_source(source, hparams_file="hyperparams.yaml"):
    """Refuse a source that holds no model before any model is built.

    For commands that load the model elsewhere (``ser-rate``'s Ray actors):
    a run's folder, a folder without the YAML, a missing folder and a
    repository that cannot be fetched are named here, in one line.

    Example
    -------
    >>> import tempfile
    >>> check_model_source(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.model_loading.NotAModelFolder: ...: no \
hyperparams.yaml, so not a model folder (a run's model is its inference/ \
folder; a bank is ser-bank's --output)
    """
    check_model_folder(source, hparams_file)
    if not os.path.isdir(str(source)):
        with tempfile.TemporaryDirectory(prefix="ser_model_") as scratch:
            fetch_hparams(source, scratch, hparams_file)


class NotAModelFolder(ValueError):
    """A model source that holds no exported model (named, with what to use)."""


def check_model_folder(source, hparams_file="hyperparams.yaml"):
    """Refuse a local folder that is not an exported model, saying what is.

    A training run's folder holds its training YAML and, in ``inference/``,
    the model; a source that is no local folder is left to the fetcher (a
    model repository).

    Arguments
    ---------
    source : str
        What ``from_hparams`` was given.
    hparams_file : str
        The model's YAML.

    Raises
    ------
    NotAModelFolder
        Naming the folder, and the model inside when it is a run's.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(run, "inference"))
    >>> open(os.path.join(run, "inference", "hyperparams.yaml"), "w").close()
    >>> try:
    ...     check_model_folder(run)
    ... except NotAModelFolder as error:
    ...     print(str(error).replace(run, "RUN"))
    RUN: a training run's folder, not a model: its model is RUN/inference
    """
    source = str(source)
    if not os.path.isdir(source):
        return
    exported = os.path.join(source, "inference")
    if os.path.isfile(os.path.join(exported, hparams_file)):
        raise NotAModelFolder(
            f"{source}: a training run's folder, not a model: its model is {exported}"
        )
    if not os.path.isfile(os.path.join(source, hparams_file)):
        raise NotAModelFolder(
            f"{source}: no {hparams_file}, so not a model folder (a run's model "
            "is its inference/ folder; a bank is ser-bank's --output)"
        )


def load_serving_model(source, savedir=None, device="cpu", precision="fp32"):
    """Load an ``EncoderRegressor`` as ``ser-predict`` and ``ser-serve`` do.

    Arguments
    ---------
    source : str
        The exported inference folder (or bank), or a model repository.
    savedir : str, optional
        Where the model is linked and the int8 encoder cached (default: a
        temporary folder, removed once the model is in memory).
    device : str
    precision : str
        ``fp32``, ``bf16``, ``fp16`` (autocast on a GPU) or ``int8``
        (the encoder quantized with ONNX Runtime, CPU only).

    Returns
    -------
    EncoderRegressor

    Example
    -------
    >>> load_serving_model("folder", device="cuda", precision="int8")
    Traceback (most recent call last):
    ...
    ValueError: int8 runs on the CPU; use bf16 on a GPU
    """
    if precision == "int8" and device != "cpu":
        raise ValueError("int8 runs on the CPU; use bf16 on a GPU")
    if savedir is None:  # nothing is read from it after loading
        with tempfile.TemporaryDirectory(prefix="ser_model_") as scratch:
            return load_serving_model(source, scratch, device, precision)
    from speechbrain_lora_ser.serving.inference import EncoderRegressor

    model = EncoderRegressor.from_hparams(
        source=source,
        savedir=savedir,
        run_opts={
            "device": device,
            "precision": "fp32" if precision == "int8" else precision,
        },
    )
    if precision == "int8":
        from speechbrain_lora_ser.serving.quantization import quantize_int8

        quantize_int8(model, cache_dir=os.path.join(savedir, "int8"))
    return model


def check_model_options(model, language=None, window_seconds=None, hop_seconds=None):
    """Refuse options a loaded model cannot serve, naming the option.

    Arguments
    ---------
    model : EncoderRegressor
    language : str, optional
        A bank's language (``--language``).
    window_seconds, hop_seconds : float, optional
        The windows (the model's own when not given).

    Raises
    ------
    ValueError
        ``--language``, a window shorter than the encoder's receptive field,
        or a hop longer than the window (audio between windows never rated).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(  # what is read of an EncoderRegressor
    ...     mods=SimpleNamespace(regressor=SimpleNamespace(
    ...         check_language=lambda language: None)),
    ...     hparams=SimpleNamespace(window_seconds=10.0, hop_seconds=5.0,
    ...                             sample_rate=16000),
    ...     min_samples=400)
    >>> check_model_options(model, window_seconds=2.0, hop_seconds=3.0)
    Traceback (most recent call last):
    ...
    ValueError: --hop_seconds 3.0 is longer than the window (2.0 s): audio \
between windows would never be rated
    """
    try:
        model.mods.regressor.check_language(language)
    except ValueError as error:
        raise ValueError(f"--language {language}: {error}") from error
    window = window_seconds or model.hparams.window_seconds
    hop = hop_seconds or model.hparams.hop_seconds
    shortest = model.min_samples / model.hparams.sample_rate
    if window < shortest:
        raise ValueError(
            f"--window_seconds {window}: shorter than the {shortest:.3f} s "
            "this model's encoder needs to rate anything"
        )
    if hop > window:
        raise ValueError(
            f"--hop_seconds {hop} is longer than the window ({window} s): "
            "audio between windows would never be rated"
        )
