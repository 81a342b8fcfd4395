"""Train a bank's own language identifier: SpeechBrain's ECAPA-TDNN language ID.

The model is the VoxLingua107 recipe's (filterbanks, sentence mean
normalisation, an ECAPA-TDNN embedding, an x-vector classifier ending in a
log-softmax: ``language_id_folder``), trained on the bank's corpora, each
batch through SpeechBrain's augmentation and the telephone band
(``channel_augmentation.channel_augmenter``).
With speech in other languages (``background``), it learns one more label,
``OTHER``, that a bank serves as ``unknown``.

Its temperature is fitted on the development utterances (clean and
augmented) and folded into the classifier's last layer, so the saved
folder is a plain ``EncoderClassifier`` whose probabilities are calibrated;
``language_id.PretrainedLanguageId`` serves it like a pretrained model.
The same utterances choose its guard (``choose_guard``): the probability
below which a bank doubts a route, set so that the identifier keeps
``GUARD_KEEPS`` of its right development routes.

Example
-------
>>> import logging
>>> logging.disable(logging.INFO)
>>> import tempfile
>>> from speechbrain_lora_ser.bank.language_id_folder import SMALL_SIZES
>>> tones = [[torch.sin(torch.arange(16000) * f / 16000 * 6.283) for _ in
...     range(4)] for f in (200.0, 2000.0)]
>>> folder = tempfile.mkdtemp()
>>> report = train_language_id(tones, tones, ["low", "high"], folder,
...     epochs=2, sizes=SMALL_SIZES, work_folder=tempfile.mkdtemp())
>>> logging.disable(logging.NOTSET)
>>> sorted(report)
['guard', 'labels', 'temperature']
>>> report["labels"]
['low', 'high']

Authors
 * speechbrain-lora-ser contributors 2026
"""

import logging
import math
import os
import random

import torch
from scipy.optimize import minimize_scalar
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.schedulers import LinearScheduler, update_learning_rate
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.data_utils import batch_pad_right
from speechbrain.utils.seed import seed_everything

from speechbrain_lora_ser.bank.channel_augmentation import (
    SAMPLE_RATE,
    channel_augmenter,
    write_rooms,
)
from speechbrain_lora_ser.bank.language_id import OTHER
from speechbrain_lora_ser.bank.language_id_folder import (
    BANK_SIZES,
    language_id_modules,
    write_language_id,
)

logger = logging.getLogger(__name__)

#: Seconds of each training crop.
CROP_SECONDS = 3.0
BATCH_SIZE = 16
LEARNING_RATE = 1e-3
#: The learning rate falls linearly to this share of itself.
FINAL_LR_SHARE = 0.05
#: Share of the right development routes (clean and augmented) the chosen
#: guard keeps.
GUARD_KEEPS = 0.95
#: The chosen guard's bounds: above a half, a route is the most probable
#: answer; the cepstral router's default (0.9) is the ceiling.
GUARD_RANGE = (0.5, 0.9)


class LanguageIdModel(torch.nn.Module):
    """The identifier as trained: features, normalisation, ECAPA, classifier."""

    def __init__(self, sizes, count):
        super().__init__()
        self.compute_features = Fbank(n_mels=sizes["n_mels"])
        self.mean_var_norm = InputNormalization(norm_type="sentence", std_norm=False)
        modules = language_id_modules(sizes, count)
        self.embedding_model = modules["embedding_model"]
        self.classifier = modules["classifier"]

    def forward(self, wavs, lens):
        """Return each utterance's log-probability of each label."""
        feats = self.mean_var_norm(self.compute_features(wavs), lens)
        embeddings = self.embedding_model(feats, lens)
        return self.classifier(embeddings).squeeze(1)


def crop_batch(wavs, seconds, generator):
    """Randomly crop waveforms longer than ``seconds``; pad them as a batch.

    Example
    -------
    >>> batch, lens = crop_batch([torch.ones(8000), torch.ones(40000)], 1.0,
    ...     random.Random(0))
    >>> batch.shape, lens.tolist()
    (torch.Size([2, 16000]), [0.5, 1.0])
    """
    size = int(seconds * SAMPLE_RATE)
    pieces = []
    for wav in wavs:
        start = generator.randint(0, max(wav.shape[0] - size, 0))
        pieces.append(wav[start : start + size])
    return batch_pad_right(pieces)


def train_language_id(
    train_wavs,
    valid_wavs,
    labels,
    folder,
    epochs=20,
    sizes=None,
    background=None,
    work_folder=None,
    seed=0,
    device="cpu",
):
    """Train an identifier on each language's waveforms; write its folder.

    Arguments
    ---------
    train_wavs, valid_wavs : list of list of torch.Tensor
        Each language's 16-kHz waveforms, in ``labels``' order.
    labels : list of str
        The languages (the bank's names).
    folder : str
        Where to write the ``EncoderClassifier`` folder.
    epochs : int
        Passes over the (class-balanced) training utterances.
    sizes : dict, optional
        The model's sizes (``language_id_folder.BANK_SIZES`` by default).
    background : tuple of list, optional
        ``(train, valid)`` waveforms of speech in other languages: the
        ``OTHER`` label.
    work_folder : str, optional
        Where the synthetic rooms go (default: ``folder``'s sibling).
    seed : int
        Seed of the initialisation, the crops and the augmentation.
    device : str
        Where to train.

    Returns
    -------
    dict
        ``labels`` (the classifier's, ``OTHER`` last when trained),
        ``temperature`` and ``guard`` (``choose_guard``).
    """
    sizes = dict(BANK_SIZES if sizes is None else sizes)
    labels = list(labels)
    if background is not None:
        train_wavs, valid_wavs = (
            [*train_wavs, background[0]],
            [*valid_wavs, background[1]],
        )
        labels.append(OTHER)
    # SpeechBrain's augmentation draws from Python's random module as well as
    # torch's: seed both (and numpy), as its recipes do, so a build repeats
    seed_everything(seed, verbose=False)
    generator = random.Random(seed)
    model = LanguageIdModel(sizes, len(labels)).to(device)
    work = work_folder or folder.rstrip(os.sep) + ".rooms"
    augmenter = channel_augmenter(write_rooms(work, seed=seed))
    _fit(model, augmenter, train_wavs, epochs, generator, device)
    outputs, targets = _development_outputs(model, augmenter, valid_wavs, device)
    outputs, targets = _finite_rows(outputs, targets)
    temperature = _fit_temperature(outputs, targets)
    probabilities = torch.softmax(outputs / temperature, dim=-1)
    known = len(labels) - (background is not None)
    guard = choose_guard(probabilities, targets, known)
    logger.info(
        "language identifier: development accuracy %.1f%% (clean and augmented), "
        "temperature %.2f, chosen guard %.2f",
        100.0 * float((outputs.argmax(-1) == targets).float().mean()),
        temperature,
        guard,
    )
    with torch.no_grad():  # calibrated log-softmax: logits / temperature
        model.classifier.out.w.weight /= temperature
        model.classifier.out.w.bias /= temperature
    modules = {"embedding_model": model.embedding_model, "classifier": model.classifier}
    write_language_id(folder, modules, labels, sizes, "trained by ser-bank")
    return {"labels": labels, "temperature": temperature, "guard": guard}


def _balanced(wavs_per_label, generator):
    """Every label's utterances, the smaller labels repeated, shuffled."""
    most = max(len(wavs) for wavs in wavs_per_label)
    pairs = []
    for label, wavs in enumerate(wavs_per_label):
        indices = [i % len(wavs) for i in range(most)]
        pairs.extend((wavs[i], label) for i in indices)
    generator.shuffle(pairs)
    return pairs


def _fit(model, augmenter, train_wavs, epochs, generator, device):
    """Train on class-balanced crops through the augmentation."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = LinearScheduler(LEARNING_RATE, LEARNING_RATE * FINAL_LR_SHARE, epochs)
    model.train()
    for epoch in range(1, epochs + 1):
        _, rate = schedule(epoch)
        update_learning_rate(optimizer, rate)
        pairs = _balanced(train_wavs, generator)
        total, right = 0.0, 0
        for start in range(0, len(pairs), BATCH_SIZE):
            chunk = pairs[start : start + BATCH_SIZE]
            wavs, lens = crop_batch([w for w, _ in chunk], CROP_SECONDS, generator)
            targets = torch.tensor([label for _, label in chunk])
            with torch.no_grad():
                wavs, lens = augmenter(wavs, lens)
            targets = augmenter.replicate_labels(targets)
            log_probabilities = model(wavs.to(device), lens.to(device))
            loss = torch.nn.functional.nll_loss(log_probabilities, targets.to(device))
            if not torch.isfinite(loss):  # a step on it would make every weight NaN
                raise FloatingPointError(
                    f"language identifier: the loss is {float(loss)} at epoch "
                    f"{epoch}, batch {start // BATCH_SIZE + 1}; nothing is written"
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(chunk)
            right += int((log_probabilities.argmax(-1).cpu() == targets).sum())
        logger.info(
            "language identifier: epoch %d/%d, loss %.3f, training accuracy %.1f%%",
            epoch,
            epochs,
            total / len(pairs),
            100.0 * right / len(pairs),
        )


def _development_outputs(model, augmenter, valid_wavs, device):
    """Return the log-probabilities of each development utterance, and labels.

    Each utterance counts clean and once augmented.
    """
    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for label, wavs in enumerate(valid_wavs):
            for start in range(0, len(wavs), BATCH_SIZE):
                batch, lens = batch_pad_right(wavs[start : start + BATCH_SIZE])
                for heard, heard_lens in ((batch, lens), augmenter(batch, lens)):
                    outputs.append(model(heard.to(device), heard_lens.to(device)).cpu())
                    targets.extend([label] * heard.shape[0])
    return torch.cat(outputs), torch.tensor(targets)


def _finite_rows(outputs, targets):
    """Keep the development utterances whose outputs are finite (logged)."""
    finite = torch.isfinite(outputs).all(dim=-1)
    if not finite.any():
        raise FloatingPointError(
            "language identifier: every development output is NaN or infinite; "
            "nothing is written"
        )
    if not finite.all():
        logger.warning(
            "language identifier: %d of %d development outputs are NaN or "
            "infinite, left out of the temperature and the guard",
            int((~finite).sum()),
            finite.numel(),
        )
    return outputs[finite], targets[finite]


def _fit_temperature(outputs, targets):
    """Return the temperature that minimises the development cross-entropy.

    A bounded search over its logarithm (``scipy.optimize.minimize_scalar``,
    temperatures from 0.01 to 100): an unbounded one runs to 0 when every
    development utterance is right, and gives NaN there.

    Example
    -------
    >>> outputs = torch.log_softmax(torch.tensor([[9.0, 0.0], [0.0, 9.0]]), -1)
    >>> _fit_temperature(outputs, torch.tensor([0, 1])) < 0.1  # all right: sharp
    True
    >>> _fit_temperature(outputs, torch.tensor([0, 0])) > 1  # one wrong: softer
    True
    """

    def loss(log_temperature):
        scaled = outputs / math.exp(log_temperature)
        return float(torch.nn.functional.cross_entropy(scaled, targets))

    found = minimize_scalar(
        loss, bounds=(math.log(0.01), math.log(100.0)), method="bounded"
    )
    return round(math.exp(found.x), 4)


def choose_guard(probabilities, targets, known, keeps=GUARD_KEEPS):
    """Return the guard that keeps ``keeps`` of the right development routes.

    A bank serves a language when the identifier's probability of it is at
    least the guard. Its default (0.9) was chosen for the cepstral router's
    calibration; an identifier's own development utterances (clean and
    through the augmentation) choose its own: the ``1 - keeps`` quantile
    of the probability of the right answer among the bank-language
    utterances it gets right, within ``GUARD_RANGE``.

    Arguments
    ---------
    probabilities : torch.Tensor
        ``[N, labels]`` calibrated probabilities.
    targets : torch.Tensor
        ``[N]`` label indices.
    known : int
        The bank languages are the first ``known`` labels (``OTHER`` after).
    keeps : float
        Share of the right routes to keep.

    Returns
    -------
    float

    Example
    -------
    >>> p = torch.tensor([[0.97, 0.03], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> choose_guard(p, torch.tensor([0, 0, 1, 0]), 2, keeps=0.5)  # of 3 right
    0.8
    >>> choose_guard(p, torch.tensor([1, 1, 0, 0]), 2)  # none right: ceiling
    0.9
    """
    best, answer = probabilities.max(-1)
    right = (answer == targets) & (targets < known)
    if not right.any():
        return GUARD_RANGE[1]
    quantile = float(torch.quantile(best[right].double(), 1.0 - keeps))
    return round(min(max(quantile, GUARD_RANGE[0]), GUARD_RANGE[1]), 4)
