"""Language-ID model folders in the layout of SpeechBrain's VoxLingua107 model.

Nothing can be downloaded in tests and benchmarks, so this writes folders of
the class and layout of ``speechbrain/lang-id-voxlingua107-ecapa``
(``speechbrain_lora_ser.bank.language_id_folder``) with random weights:
small ones to test a bank's pretrained-identifier path offline, and the
published sizes (``VOXLINGUA107_SIZES``) to measure what that model costs.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch

from speechbrain_lora_ser.bank.language_id_folder import (
    SMALL_SIZES,
    VOXLINGUA107_SIZES,
    language_id_modules,
    write_language_id,
)

__all__ = ["SMALL_SIZES", "VOXLINGUA107_SIZES", "save_language_id_model"]


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
    torch.manual_seed(seed)
    modules = language_id_modules(sizes, len(labels))
    with torch.no_grad():
        for label, bias in (biases or {}).items():
            modules["classifier"].out.w.bias[labels.index(label)] += bias
    origin = "random weights: speechbrain_lora_ser.synthetic.language_id_model"
    write_language_id(folder, modules, labels, sizes, origin)
    return folder
