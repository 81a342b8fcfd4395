"""The folder layout of SpeechBrain's VoxLingua107 language-ID model.

``speechbrain/lang-id-voxlingua107-ecapa`` is a folder that
``EncoderClassifier.from_hparams`` loads: ``hyperparams.yaml`` (filterbanks,
sentence mean normalisation, an ECAPA-TDNN embedding, an x-vector
classifier ending in a log-softmax, a label encoder), the two modules'
``.ckpt`` files and the label encoder's file (labels such as
``"en: English"``). A bank's own identifier (``language_id_training``) is
written in the same layout, so one path serves both
(``language_id.PretrainedLanguageId``).

Example
-------
>>> import tempfile
>>> from speechbrain.inference.classifiers import EncoderClassifier
>>> folder = tempfile.mkdtemp()
>>> modules = language_id_modules(SMALL_SIZES, 2)
>>> write_language_id(folder, modules, ["en: English", "zh: Chinese"],
...     SMALL_SIZES, "an example")
>>> model = EncoderClassifier.from_hparams(source=folder, savedir=folder)
>>> model.hparams.label_encoder.ind2lab
{0: 'en: English', 1: 'zh: Chinese'}

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import torch
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
from speechbrain.lobes.models.Xvector import Classifier

#: The published model's sizes (its ``hyperparams.yaml``).
VOXLINGUA107_SIZES = {
    "n_mels": 60,
    "channels": [1024, 1024, 1024, 1024, 3072],
    "attention_channels": 128,
    "embedding": 256,
    "classifier_neurons": 512,
}

#: The size a bank trains by default (``ser-bank build --router ecapa``):
#: the recipe's architecture at a quarter of its channels.
BANK_SIZES = {
    "n_mels": 60,
    "channels": [256, 256, 256, 256, 768],
    "attention_channels": 64,
    "embedding": 192,
    "classifier_neurons": 256,
}

#: Sizes small enough for tests.
SMALL_SIZES = {
    "n_mels": 24,
    "channels": [32, 32, 32, 32, 96],
    "attention_channels": 16,
    "embedding": 32,
    "classifier_neurons": 32,
}

HYPERPARAMS = """\
# A language identifier in the layout of speechbrain/lang-id-voxlingua107-ecapa
# ({origin}).
pretrained_path: {folder}

n_mels: {n_mels}
out_n_neurons: {labels}

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: {channels}
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: {attention_channels}
    lin_neurons: {embedding}

classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, {embedding}]
    activation: !name:torch.nn.LeakyReLU
    lin_blocks: 1
    lin_neurons: {classifier_neurons}
    out_neurons: !ref <out_n_neurons>

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def language_id_modules(sizes, count):
    """Build the embedding model and the classifier of ``count`` labels.

    Example
    -------
    >>> modules = language_id_modules(SMALL_SIZES, 3)
    >>> sorted(modules)
    ['classifier', 'embedding_model']
    """
    return {
        "embedding_model": ECAPA_TDNN(
            sizes["n_mels"],
            channels=sizes["channels"],
            attention_channels=sizes["attention_channels"],
            lin_neurons=sizes["embedding"],
        ),
        "classifier": Classifier(
            input_shape=[None, None, sizes["embedding"]],
            lin_neurons=sizes["classifier_neurons"],
            out_neurons=count,
        ),
    }


def write_language_id(folder, modules, labels, sizes, origin):
    """Write a language-ID folder: the modules' weights, labels and YAML.

    Arguments
    ---------
    folder : str
        Where (created).
    modules : dict
        ``language_id_modules``'s, trained or not.
    labels : list of str
        The classifier's labels, in its output order.
    sizes : dict
        The sizes the modules were built with.
    origin : str
        What wrote it (a comment in the YAML).
    """
    os.makedirs(folder, exist_ok=True)
    for name in ("embedding_model", "classifier"):
        state = {k: v.detach().cpu() for k, v in modules[name].state_dict().items()}
        torch.save(state, os.path.join(folder, f"{name}.ckpt"))
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(labels)
    encoder.save(os.path.join(folder, "label_encoder.txt"))
    text = HYPERPARAMS.format(folder=folder, labels=len(labels), origin=origin, **sizes)
    with open(os.path.join(folder, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(text)
