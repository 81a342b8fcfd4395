"""SpeechBrain's ``from_hparams`` with the YAML checked and weights strict.

``load_pretrained`` follows ``speechbrain.inference.interfaces.
pretrained_from_hparams`` (same arguments, same fetching) with two changes:
the model's YAML is checked by ``model_trust.check_yaml`` before anything in
it is built, and the ``Pretrainer`` loads every module strictly
(``weights.strict_hooks``).

Authors
 * speechbrain-lora-ser contributors 2026
"""

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
    hparams_path = fetch(
        filename=hparams_file,
        source=source,
        savedir=savedir,
        save_filename=None,
        local_strategy=local_strategy,
        fetch_config=fetch_config,
    )
    check_yaml(hparams_path, trust_code=trust_code)
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
