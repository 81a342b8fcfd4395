"""Language-ID model folders in the layout of SpeechBrain's VoxLingua107 model.

``speechbrain/lang-id-voxlingua107-ecapa`` is a folder that
``EncoderClassifier.from_hparams`` loads: ``hyperparams.yaml`` (filterbanks,
sentence mean normalisation, an ECAPA-TDNN embedding, an x-vector
classifier ending in a log-softmax, a label encoder), the two modules'
``.ckpt`` files and ``label_encoder.txt`` (labels such as ``"en: English"``).
Nothing can be downloaded in tests and benchmarks, so this writes folders of
the same class and layout with random weights: small ones to test a bank's
pretrained-identifier path offline, and the published sizes
(``VOXLINGUA107_SIZES``) to measure what that model costs.

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
# (random weights: written by speechbrain_lora_ser.synthetic.language_id_model).
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


def save_language_id_model(folder, labels, sizes=None, seed=0, biases=None):
    """Write a VoxLingua107-layout language-ID folder with random weights.

    Arguments
    ---------
    folder : str
        Where to write it (created).
    labels : list of str
        Its languages, as the published model names them (``"en: English"``).
    sizes : dict, optional
        ``SMALL_SIZES`` (the default) or ``VOXLINGUA107_SIZES``.
    seed : int
        Seed of the random weights.
    biases : dict, optional
        A label's added output bias (``{"es: Spanish": 50.0}`` makes every
        utterance Spanish): a model whose answer a test knows.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.inference.classifiers import EncoderClassifier
    >>> folder = save_language_id_model(tempfile.mkdtemp(),
    ...     ["en: English", "zh: Chinese"], biases={"zh: Chinese": 50.0})
    >>> model = EncoderClassifier.from_hparams(source=folder, savedir=folder)
    >>> model.classify_batch(torch.randn(1, 16000))[3]
    ['zh: Chinese']
    """
    sizes = dict(SMALL_SIZES if sizes is None else sizes)
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(seed)
    embedding = ECAPA_TDNN(
        sizes["n_mels"],
        channels=sizes["channels"],
        attention_channels=sizes["attention_channels"],
        lin_neurons=sizes["embedding"],
    )
    classifier = Classifier(
        input_shape=[None, None, sizes["embedding"]],
        lin_neurons=sizes["classifier_neurons"],
        out_neurons=len(labels),
    )
    with torch.no_grad():
        for label, bias in (biases or {}).items():
            classifier.out.w.bias[labels.index(label)] += bias
    torch.save(embedding.state_dict(), os.path.join(folder, "embedding_model.ckpt"))
    torch.save(classifier.state_dict(), os.path.join(folder, "classifier.ckpt"))
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(labels)
    encoder.save(os.path.join(folder, "label_encoder.txt"))
    with open(os.path.join(folder, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(HYPERPARAMS.format(folder=folder, labels=len(labels), **sizes))
    return folder
