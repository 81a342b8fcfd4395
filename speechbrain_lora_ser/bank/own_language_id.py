"""A bank's own language identifier: trained on its runs, described, compared.

``ser-bank build --router ecapa`` trains SpeechBrain's ECAPA-TDNN language
ID on the runs' training utterances (``language_id_training``), with one
label per bank language (the language's name) and, given speech in other
languages (``--router_background``), the ``(other)`` label that the bank
serves as ``unknown``. The model is written into the bank as an
``EncoderClassifier`` folder and served like a pretrained one
(``language_id.PretrainedLanguageId``, each language mapped to its own
label). Its development utterances choose the bank's guard
(``min_language_probability``) unless the user sets one. ``add`` trains it
again on every language, with the same settings (and chooses the guard
again if it was chosen), and lists the earlier languages' development
utterances whose route changed.

Example
-------
>>> import logging, tempfile
>>> logging.disable(logging.INFO)
>>> tones = [[torch.sin(torch.arange(16000) * f / 16000 * 6.283) for _ in
...     range(4)] for f in (200.0, 2000.0)]
>>> bank = tempfile.mkdtemp()
>>> described = train_bank_language_id(tones, tones, ["low", "high"], bank,
...     {"epochs": 1, "size": "small", "background": None})
>>> logging.disable(logging.NOTSET)
>>> described["codes"], described["source"]
({'low': ['low'], 'high': ['high']}, 'trained')

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import tempfile

import torch

from speechbrain_lora_ser.bank.language_id import decide
from speechbrain_lora_ser.bank.language_id_folder import (
    BANK_SIZES,
    SMALL_SIZES,
    VOXLINGUA107_SIZES,
)
from speechbrain_lora_ser.bank.language_id_training import train_language_id
from speechbrain_lora_ser.serving.audio import read_audio

#: The identifier's folder in a bank (a pretrained one's copy goes there too).
FOLDER = "language_id"
#: The bank's own identifier beside a pretrained one (the languages it lacks).
OWN_FOLDER = "own_language_id"
#: ``--router_size``: the model's sizes.
SIZES = {"bank": BANK_SIZES, "small": SMALL_SIZES, "voxlingua107": VOXLINGUA107_SIZES}
#: Audio files read from ``--router_background``.
AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
#: Every this many background files, one goes to the development set.
VALID_EVERY = 5


def read_background(folder):
    """Read a folder of speech in other languages: ``(train, valid)`` waveforms.

    Every audio file under ``folder`` counts, in sorted order; every fifth
    goes to the development set.

    Example
    -------
    >>> import tempfile
    >>> read_background(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: --router_background ...: no audio files (.wav, .flac, ...) ...
    """
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(AUDIO)
    )
    if len(paths) < 2:
        raise ValueError(
            f"--router_background {folder}: no audio files (.wav, .flac, ...) "
            "or only one; it needs speech in languages the bank does not hold"
        )
    wavs = [read_audio(path, 16000) for path in paths]
    valid = wavs[::VALID_EVERY]
    train = [w for i, w in enumerate(wavs) if i % VALID_EVERY]
    return train, valid


def train_bank_language_id(
    train_wavs, valid_wavs, languages, bank, training, folder=FOLDER
):
    """Train the bank's identifier into ``<bank>/<folder>``; describe it.

    Arguments
    ---------
    train_wavs, valid_wavs : list of list of torch.Tensor
        Each bank language's 16-kHz waveforms, in ``languages``' order.
    languages : list of str
        The bank's languages (the identifier's labels).
    bank : str
        The bank folder being written.
    training : dict
        ``epochs``, ``size`` (a key of ``SIZES``) and ``background`` (a
        folder of speech in other languages, or None): kept in bank.json,
        so ``add`` trains the same way.
    folder : str
        Its folder in the bank (``OWN_FOLDER`` beside a pretrained model).

    Returns
    -------
    dict
        The bank.json ``language_id`` entry, with the ``guard`` chosen on
        the development utterances (``language_id_training.choose_guard``).

    Example
    -------
    >>> train_bank_language_id([], [], [], "bank", {"size": "huge"})
    Traceback (most recent call last):
    ...
    ValueError: --router_size huge: expected one of ['bank', 'small', 'voxlingua107']
    """
    if training["size"] not in SIZES:
        raise ValueError(
            f"--router_size {training['size']}: expected one of {sorted(SIZES)}"
        )
    background = training["background"]
    if background is not None:  # recorded for add, which may run elsewhere
        background = os.path.abspath(background)
        training = {**training, "background": background}
    with tempfile.TemporaryDirectory() as rooms:  # the augmentation's rooms
        report = train_language_id(
            train_wavs,
            valid_wavs,
            languages,
            os.path.join(bank, folder),
            epochs=training["epochs"],
            sizes=SIZES[training["size"]],
            background=None if background is None else read_background(background),
            work_folder=rooms,
            device="cuda" if torch.cuda.is_available() else "cpu",
        )
    return {
        "folder": folder,
        "codes": {language: [language] for language in languages},
        "source": "trained",
        "training": dict(training),
        "temperature": report["temperature"],
        "guard": report["guard"],
    }


def route_changes(old, new, wavs, names, min_probability):
    """Each utterance whose route differs between two identifiers.

    Arguments
    ---------
    old, new : PretrainedLanguageId or CombinedLanguageId
        The bank's identifier before and after ``add`` (``new`` holds one
        more language, last).
    wavs : list of torch.Tensor
        The earlier languages' development utterances.
    names : list of str
        Their names.
    min_probability : float
        The bank's guard.

    Returns
    -------
    list of dict
        ``utterance``, ``before``, ``after`` (languages, or ``unknown``) and
        the chosen language's probability ``probability_before``,
        ``probability_after``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.bank.language_id import PretrainedLanguageId
    >>> from speechbrain_lora_ser.synthetic.language_id_model import (
    ...     save_language_id_model)
    >>> def hearing(label):
    ...     folder = save_language_id_model(tempfile.mkdtemp(), ["en", "zh"],
    ...         biases={label: 50.0})
    ...     return PretrainedLanguageId(folder, {"en": ["en"], "zh": ["zh"]},
    ...         ["en", "zh"])
    >>> changes = route_changes(hearing("en"), hearing("zh"),
    ...     [torch.randn(16000)], ["utt1"], 0.9)
    >>> [(c["utterance"], c["before"], c["after"]) for c in changes]
    [('utt1', 'en', 'zh')]
    """
    changes = []
    for wav, name in zip(wavs, names, strict=True):
        batch, lens = wav.unsqueeze(0), torch.ones(1)
        _, before, p_before, _ = decide(
            old(batch, lens)[0], old.languages, min_probability
        )
        _, after, p_after, _ = decide(
            new(batch, lens)[0], new.languages, min_probability
        )
        if before != after:
            changes.append(
                {
                    "utterance": name,
                    "before": before[0],
                    "after": after[0],
                    "probability_before": p_before[0],
                    "probability_after": p_after[0],
                }
            )
    return changes
