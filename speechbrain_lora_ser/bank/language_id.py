r"""A pretrained spoken-language identifier for a bank, and unknown languages.

A bank can hear language with SpeechBrain's pretrained VoxLingua107 model
(``speechbrain/lang-id-voxlingua107-ecapa``: an ECAPA-TDNN on filterbanks
trained on 107 languages), or any ``EncoderClassifier`` folder of that
layout, as it is: the bank maps its language codes to the bank's languages
(``MSP-Podcast=en``) and needs no training for them. Its probabilities for
each bank language are the sums over the codes mapped to it; whatever the
model gives to codes no bank language maps to is the probability that the
speech is in a language the bank does not hold.

A bank whose languages are not all mapped (a language the model does not
know) keeps its own router (``routing``) for them: the probability the
pretrained model leaves to unmapped codes is shared among the unmapped bank
languages by the router's probabilities, so such a bank names no language
unknown by this rule; its guard still does (``bank_probabilities``).

How a bank decides (``decide``): the most probable of its languages and
``unknown`` wins; ``unknown``, or a bank language less probable than the
bank's ``min_language_probability``, is served as ``language: unknown`` by
the base model, with a warning that says which of the two happened.

Example
-------
>>> import tempfile
>>> from speechbrain_lora_ser.synthetic.language_id_model import (
...     save_language_id_model)
>>> folder = save_language_id_model(tempfile.mkdtemp(),
...     ["en: English", "zh: Chinese", "es: Spanish"],
...     biases={"es: Spanish": 50.0})
>>> identifier = PretrainedLanguageId(folder, {"MSP": ["en"], "BIIC": ["zh"]},
...     ["MSP", "BIIC"])
>>> probabilities, heard = identifier(torch.randn(2, 16000), torch.ones(2))
>>> probabilities.shape, probabilities[:, -1].min().item() > 0.99
(torch.Size([2, 3]), True)
>>> heard
['es: Spanish', 'es: Spanish']
>>> print(decide(probabilities, ["MSP", "BIIC"], 0.9, heard)[3][0])
... # doctest: +NORMALIZE_WHITESPACE
language unknown (heard as es: Spanish; probability 1 that it is none of
this bank's languages): base model MSP used


Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import torch
from speechbrain.inference.classifiers import EncoderClassifier
from speechbrain.utils.fetching import LocalStrategy

#: What a bank serves as the language of speech it holds no adapter for
#: (or whose language it doubts).
UNKNOWN = "unknown"
#: The label of a bank's own identifier for speech in other languages.
OTHER = "(other)"


def label_code(label):
    """Return the language code of a VoxLingua107 label.

    Example
    -------
    >>> label_code("zh: Chinese"), label_code("de")
    ('zh', 'de')
    """
    return label.split(":", 1)[0].strip()


def parse_codes(pairs):
    """Read ``LANGUAGE=CODE[,CODE...]`` pairs into ``{language: [codes]}``.

    Example
    -------
    >>> parse_codes(["MSP-Podcast=en", "BIIC-Podcast=zh,nan"])
    {'MSP-Podcast': ['en'], 'BIIC-Podcast': ['zh', 'nan']}
    >>> parse_codes(["en"])
    Traceback (most recent call last):
    ...
    ValueError: --language_code 'en': expected LANGUAGE=CODE[,CODE...]
    """
    codes = {}
    for pair in pairs:
        language, _, listed = pair.partition("=")
        names = [code.strip() for code in listed.split(",") if code.strip()]
        if not language.strip() or not names:
            raise ValueError(
                f"--language_code {pair!r}: expected LANGUAGE=CODE[,CODE...]"
            )
        codes.setdefault(language.strip(), []).extend(names)
    return codes


class PretrainedLanguageId:
    """A pretrained ``EncoderClassifier`` whose codes map to bank languages.

    Arguments
    ---------
    folder : str
        The model's folder (``hyperparams.yaml`` and its files).
    codes : dict
        ``{bank language: [its codes]}``; bank languages the model does not
        know are left out.
    languages : list of str
        The bank's languages, in the bank's order.
    """

    def __init__(self, folder, codes, languages):
        # read in place (NO_LINK): loading writes nothing into the bank, which
        # may be read-only
        self.classifier = EncoderClassifier.from_hparams(
            source=folder,
            savedir=folder,
            overrides={"pretrained_path": folder},
            local_strategy=LocalStrategy.NO_LINK,
        )
        self.classifier.mods.eval()
        encoder = self.classifier.hparams.label_encoder
        encoder.ignore_len()  # its count is the model's; nothing to check
        self.labels = encoder.ind2lab
        self.labels = [self.labels[index] for index in range(len(self.labels))]
        self.languages = list(languages)
        self.codes = {language: list(codes[language]) for language in codes}
        self.code_languages = code_languages(self.labels, self.codes, self.languages)

    @property
    def mapped(self):
        """The bank languages this model knows (their indices)."""
        return sorted(set(self.code_languages) - {-1})

    @property
    def classifiers(self):
        """The SpeechBrain models (a bank moves them with its modules)."""
        return [self.classifier]

    @torch.no_grad()
    def log_probabilities(self, wavs, wav_lens):
        """Return the log-probability of each of the model's labels, ``(N, labels)``.

        One utterance at a time, cut to its own length: a file's route must
        not depend on what else is in its batch (the padding would reach
        the model's convolutions and statistics).
        """
        rows = []
        for wav, length in zip(wavs, wav_lens.tolist(), strict=True):
            samples = max(1, round(length * wavs.shape[1]))
            out = self.classifier.classify_batch(
                wav[:samples].unsqueeze(0), torch.ones(1, device=wav.device)
            )[0]
            rows.append(out.reshape(1, -1).float())
        return torch.log_softmax(torch.cat(rows), dim=-1)

    def __call__(self, wavs, wav_lens, router_probabilities=None):
        """Bank-language probabilities (``unknown`` last) and labels heard.

        Returns
        -------
        probabilities : torch.Tensor
            ``(N, languages + 1)`` (``bank_probabilities``).
        heard : list of str
            Each utterance's most likely label (``"es: Spanish"``).
        """
        labels = self.log_probabilities(wavs, wav_lens).exp()
        heard = [self.labels[i] for i in labels.argmax(-1).tolist()]
        pooled = bank_probabilities(
            labels, self.code_languages, len(self.languages), router_probabilities
        )
        return pooled, heard


class CombinedLanguageId:
    """A pretrained model for the languages it knows, the bank's own for the rest.

    What the pretrained model gives to codes no bank language maps to is
    shared out by the bank's own identifier (trained on the other languages
    and, with background speech, ``OTHER``) among those languages and
    ``unknown`` (``bank_probabilities``).

    Arguments
    ---------
    pretrained, own : PretrainedLanguageId
        The pretrained model (its codes mapped) and the bank's own
        identifier (each of its languages mapped to its own label).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.language_id_model import (
    ...     save_language_id_model)
    >>> heard = save_language_id_model(tempfile.mkdtemp(), ["en", "es"],
    ...     biases={"es": 50.0})  # hears Spanish: no bank language
    >>> own = save_language_id_model(tempfile.mkdtemp(), ["de", "(other)"],
    ...     biases={"de": 50.0})  # the bank's own hears German
    >>> both = CombinedLanguageId(
    ...     PretrainedLanguageId(heard, {"en": ["en"]}, ["en", "de"]),
    ...     PretrainedLanguageId(own, {"de": ["de"]}, ["en", "de"]))
    >>> probabilities, _ = both(torch.randn(1, 16000), torch.ones(1))
    >>> probabilities.round(decimals=2)  # en, de, unknown
    tensor([[0., 1., 0.]])
    """

    def __init__(self, pretrained, own):
        self.pretrained = pretrained
        self.own = own
        self.languages = pretrained.languages

    @property
    def mapped(self):
        """The bank languages either identifier knows (their indices)."""
        return sorted(set(self.pretrained.mapped) | set(self.own.mapped))

    @property
    def classifiers(self):
        """Both identifiers' SpeechBrain models."""
        return self.pretrained.classifiers + self.own.classifiers

    def __call__(self, wavs, wav_lens, router_probabilities=None):
        """Bank-language probabilities (``unknown`` last) and labels heard."""
        own, _ = self.own(wavs, wav_lens)
        return self.pretrained(wavs, wav_lens, own)


def identifier_from_description(bank, described, languages):
    """Load the identifier bank.json describes (``language_id``) from ``bank``.

    A pretrained model's copy or the bank's own identifier; with ``own`` in
    the description, both (``CombinedLanguageId``).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.language_id_model import (
    ...     save_language_id_model)
    >>> bank = tempfile.mkdtemp()
    >>> _ = save_language_id_model(os.path.join(bank, "language_id"),
    ...     ["en", "es"])
    >>> _ = save_language_id_model(os.path.join(bank, "own_language_id"),
    ...     ["de", "(other)"])
    >>> described = {"folder": "language_id", "codes": {"en": ["en"]},
    ...     "own": {"folder": "own_language_id", "codes": {"de": ["de"]}}}
    >>> identifier_from_description(bank, described, ["en", "de"]).mapped
    [0, 1]
    """
    identifier = PretrainedLanguageId(
        os.path.join(bank, described["folder"]), described["codes"], languages
    )
    own = described.get("own")
    if own is None:
        return identifier
    return CombinedLanguageId(
        identifier,
        PretrainedLanguageId(
            os.path.join(bank, own["folder"]), own["codes"], languages
        ),
    )


def code_languages(labels, codes, languages):
    """Each label's bank-language index (-1: a language the bank lacks).

    Example
    -------
    >>> code_languages(["en: English", "zh: Chinese", "es: Spanish"],
    ...     {"BIIC": ["zh"], "MSP": ["en"]}, ["MSP", "BIIC", "DE"])
    [0, 1, -1]
    >>> code_languages(["en: English"], {"MSP": ["xx"]}, ["MSP"])
    Traceback (most recent call last):
    ...
    ValueError: --language_code MSP=xx: the language-ID model has no code xx ...
    """
    known = {label_code(label) for label in labels}
    index = {}
    for language, names in codes.items():
        if language not in languages:
            raise ValueError(
                f"--language_code {language}: not a language of this bank ({languages})"
            )
        for code in names:
            if code not in known:
                raise ValueError(
                    f"--language_code {language}={code}: the language-ID model "
                    f"has no code {code} (it has {sorted(known)})"
                )
            index[code] = languages.index(language)
    return [index.get(label_code(label), -1) for label in labels]


def bank_probabilities(label_probabilities, label_languages, count, router=None):
    """Pool a model's label probabilities into the bank's languages.

    Arguments
    ---------
    label_probabilities : torch.Tensor
        ``(N, labels)``, each row summing to one.
    label_languages : list of int
        Each label's bank language (-1: none).
    count : int
        The number of bank languages.
    router : torch.Tensor, optional
        The bank router's ``(N, count)`` probabilities, or a second
        identifier's ``(N, count + 1)`` (``unknown`` last): they share what
        the unmapped labels hold among the bank languages no label maps to
        (and, with an ``unknown`` column, ``unknown``).

    Returns
    -------
    torch.Tensor
        ``(N, count + 1)``: each bank language's probability, ``unknown``
        last.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.2, 0.3]])
    >>> bank_probabilities(p, [0, -1, 1], 2)
    tensor([[0.5000, 0.3000, 0.2000]])
    >>> bank_probabilities(p, [0, -1, -1], 2, router=torch.tensor([[0.9, 0.1]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    >>> bank_probabilities(p, [0, -1, -1], 2, router=torch.tensor([[0.0, 0.6, 0.4]]))
    tensor([[0.5000, 0.3000, 0.2000]])
    """
    index = torch.tensor([count if i < 0 else i for i in label_languages])
    pooled = torch.zeros(label_probabilities.shape[0], count + 1)
    pooled = pooled.to(label_probabilities)
    pooled.index_add_(1, index.to(label_probabilities.device), label_probabilities)
    unmapped = [i for i in range(count) if i not in set(label_languages)]
    if router is not None and unmapped:
        columns = unmapped + ([count] if router.shape[1] > count else [])
        share = router[:, columns]
        share = share / share.sum(-1, keepdim=True).clamp_min(1e-12)
        remainder = pooled[:, -1:].clone()
        pooled[:, -1] = 0.0
        pooled[:, columns] = remainder * share
    return pooled


def decide(probabilities, languages, min_probability, heard=None):
    """Return each utterance's route (the base for unknown), name and note.

    Arguments
    ---------
    probabilities : torch.Tensor
        ``(N, len(languages) + 1)``: ``unknown`` last.
    languages : list of str
        The bank's languages, the base first.
    min_probability : float
        The guard: a bank language less probable than this is unknown.
    heard : list of str, optional
        What a pretrained identifier heard, named in the unknown notes.

    Returns
    -------
    routes : list of int
    names : list of str
        The language served (``UNKNOWN`` for the base model's fallback).
    chosen : list of float
        The most probable bank language's probability.
    notes : list of str or None

    Example
    -------
    >>> p = torch.tensor([[0.05, 0.95, 0.0], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    >>> routes, names, chosen, notes = decide(p, ["en", "zh"], 0.9)
    >>> routes, names
    ([1, 0, 0], ['zh', 'unknown', 'unknown'])
    >>> print(notes[1])  # doctest: +NORMALIZE_WHITESPACE
    language uncertain (most likely en, probability 0.6, below 0.9): base
    model en used
    >>> print(notes[2])  # doctest: +NORMALIZE_WHITESPACE
    language unknown (probability 0.8 that it is none of this bank's
    languages): base model en used
    """
    count = len(languages)
    best, index = probabilities[:, :count].max(-1)
    unknown = probabilities[:, count].tolist()
    routes, names, notes = [], [], []
    base = languages[0]
    for row, (p, i) in enumerate(zip(best.tolist(), index.tolist(), strict=True)):
        if unknown[row] > p:
            said = (
                ""
                if heard is None or heard[row] == OTHER
                else f"heard as {heard[row]}; "
            )
            note = (
                f"language unknown ({said}probability {unknown[row]:.2g} that it "
                f"is none of this bank's languages): base model {base} used"
            )
        elif p < min_probability:
            note = (
                f"language uncertain (most likely {languages[i]}, probability "
                f"{p:.2g}, below {min_probability:g}): base model {base} used"
            )
        else:
            note = None
        routes.append(i if note is None else 0)
        names.append(languages[i] if note is None else UNKNOWN)
        notes.append(note)
    return routes, names, best.tolist(), notes
