r"""Training a bank's language router: channel augmentation, fitting, comparing.

The router (``speechbrain_lora_ser.bank.routing``) must route by language, not by
the recording channel. It is trained on the languages' own training
utterances, each seen clean and through random channels drawn by
``random_channel`` (torchaudio's functional DSP and SpeechBrain's codec
augmentation: telephone band with 8 kHz resampling and G.711 mu-law, gain
from -20 to +12 dB with clipping, additive white to brown noise at 5-30 dB
SNR, music-like chords underneath, reverberation, speed perturbation,
low-pass filtering, MP3 and Opus coding), then its L2
weight is chosen and its temperature fitted on development utterances seen
the same way, so that its top probability is calibrated where it will be
used. ``add_language`` adds a language to a trained router without touching
what the earlier languages' logits are, and ``compare_routes`` lists every
utterance whose route two routers decide differently (what ``bank add``
reports).

``train_router`` is the one way a bank's router is trained (what
``bank_builder`` calls)::

    features = RouterFeatures(encoder, **DEFAULT_FEATURES)
    router = train_router(features, train_wavs, valid_wavs)
    bigger = train_router(features, train_wavs_3, valid_wavs_3, previous=router)

It computes the features of every utterance, clean and through random
channels (``augmented_features``), and fits them (``fit_router``; with a
``previous`` router, ``add_language``). Tests and benchmarks call those
steps on features of their own.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import copy
import logging
import time

import torch
import torchaudio.functional as AF
from speechbrain.augment.codec import CodecAugment

from speechbrain_lora_ser.bank.routing import LanguageRouter

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Channel-augmented copies of each utterance a bank's router is trained on.
COPIES = 4
#: Hidden units of each language's detector.
HIDDEN = 16
#: AdamW weight decays tried when fitting; the lowest development
#: cross-entropy wins.
DECAYS = (1e-3, 1e-2, 1e-1)
#: Full-batch training steps and learning rate.
STEPS = 600
LEARNING_RATE = 1e-2


# ---------------------------------------------------------------------------
# Channels (torchaudio.functional does the signal processing)
# ---------------------------------------------------------------------------
def telephone_band(wav, sample_rate=SAMPLE_RATE, low_hz=300.0, mu_law=False):
    """Pass through the telephone band: high-pass, 8 kHz (and mu-law), and back.

    Arguments
    ---------
    wav : torch.Tensor
        ``[samples]`` or ``[channels, samples]``.
    sample_rate : int
        Its sample rate.
    low_hz : float
        Cut-off of the high-pass (telephone: 300 Hz).
    mu_law : bool
        Quantise to 8-bit mu-law at 8 kHz (the G.711 codec).

    Returns
    -------
    torch.Tensor
        Same shape and rate.

    Example
    -------
    >>> import math
    >>> def level(hz):  # peak amplitude of a sine after the band, past the edges
    ...     wav = torch.sin(2 * math.pi * hz * torch.arange(16000) / 16000)
    ...     return round(float(telephone_band(wav)[1000:-1000].abs().max()), 2)
    >>> level(100), level(1000), level(6000)
    (0.11, 1.0, 0.0)
    """
    length = wav.shape[-1]
    narrow = AF.resample(
        AF.highpass_biquad(wav, sample_rate, low_hz), sample_rate, 8000
    )
    if mu_law:
        narrow = AF.mu_law_decoding(AF.mu_law_encoding(narrow.clamp(-1, 1), 256), 256)
    wide = AF.resample(narrow, 8000, sample_rate)[..., :length]
    return torch.nn.functional.pad(wide, (0, length - wide.shape[-1]))


def gain_and_clip(wav, gain_db):
    """Amplify by ``gain_db`` and clip to the ``[-1, 1]`` full scale.

    Example
    -------
    >>> gain_and_clip(torch.tensor([0.1, 0.8]), 6.0)
    tensor([0.1995, 1.0000])
    """
    return AF.gain(wav, gain_db).clamp(-1.0, 1.0)


def add_noise(wav, snr_db, generator=None, color=0.0):
    """Add Gaussian noise at ``snr_db`` (``color`` 0: white, towards 1: brown).

    The noise is white noise through a one-pole low-pass ``y[n] = x[n] +
    color * y[n-1]``, scaled by ``torchaudio.functional.add_noise``.

    Example
    -------
    >>> wav = torch.sin(torch.arange(16000) / 10.0)
    >>> noisy = add_noise(wav, 20.0, torch.Generator().manual_seed(0), 0.5)
    >>> snr = 10 * torch.log10(wav.pow(2).sum() / (noisy - wav).pow(2).sum())
    >>> round(float(snr), 3)
    20.0
    """
    noise = torch.randn(wav.shape, generator=generator, dtype=wav.dtype)
    if color > 0:
        a = torch.tensor([1.0, -color], dtype=wav.dtype)
        b = torch.tensor([1.0, 0.0], dtype=wav.dtype)
        noise = AF.lfilter(noise, a, b, clamp=False)
    return AF.add_noise(
        wav[None], noise[None], torch.tensor([snr_db], dtype=wav.dtype)
    )[0]


def reverberate(wav, rt60, generator=None, sample_rate=SAMPLE_RATE):
    """Convolve with a synthetic room response (decaying noise) of ``rt60`` s.

    Written here because torchaudio and SpeechBrain convolve with room
    responses but generate none without measured ones; an exponentially
    decaying Gaussian tail after a direct path is the usual stand-in.
    The result keeps the input's RMS level.

    Example
    -------
    >>> wav = torch.zeros(4000)
    >>> wav[0] = 1.0
    >>> out = reverberate(wav, 0.3, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out[1000:].abs().sum() > 0)
    (torch.Size([4000]), True)
    """
    length = int(rt60 * sample_rate)
    time = torch.arange(length, dtype=wav.dtype) / sample_rate
    rir = torch.randn(length, generator=generator, dtype=wav.dtype)
    rir = rir * torch.exp(-6.9 * time / rt60) * 0.3  # -60 dB at rt60
    rir[0] = 1.0
    out = AF.fftconvolve(wav, rir)[..., : wav.shape[-1]]
    scale = wav.pow(2).mean().sqrt() / out.pow(2).mean().sqrt().clamp_min(1e-9)
    return out * scale


def add_music(wav, snr_db, generator=None, sample_rate=SAMPLE_RATE):
    """Add music-like sound underneath: chords of three random tones.

    Written here because no library generates a music background without
    recordings of music; a new chord (three semitones of 110-880 Hz) every
    0.4 s stands in for one, at ``snr_db`` below the speech.

    Example
    -------
    >>> wav = 0.1 * torch.randn(16000)
    >>> mixed = add_music(wav, 10.0, torch.Generator().manual_seed(0))
    >>> snr = 10 * torch.log10(wav.pow(2).sum() / (mixed - wav).pow(2).sum())
    >>> round(float(snr), 3)
    10.0
    """
    time = torch.arange(wav.shape[-1], dtype=wav.dtype) / sample_rate
    steps = (time / 0.4).long()
    semitones = torch.randint(0, 36, (3, int(steps[-1]) + 1), generator=generator)
    pitches = 110.0 * 2 ** (semitones.to(wav.dtype) / 12)
    chords = sum(torch.sin(2 * torch.pi * p[steps] * time) for p in pitches)
    scale = wav.pow(2).mean().sqrt() / chords.pow(2).mean().sqrt().clamp_min(1e-9)
    return wav + chords * scale * 10 ** (-snr_db / 20)


def change_speed(wav, factor, sample_rate=SAMPLE_RATE):
    """Play ``wav`` ``factor`` times faster (tempo and pitch), by resampling.

    What SpeechBrain's ``SpeedPerturb`` does, with the factor given (it
    draws its own from the global random state).

    Example
    -------
    >>> change_speed(torch.zeros(16000), 1.1).shape
    torch.Size([14546])
    """
    return AF.resample(wav, int(round(sample_rate * factor)), sample_rate)


#: Speed changes of router training.
SPEEDS = (0.9, 0.95, 1.05, 1.1)
#: Lossy codecs of router training (``CodecAugment.apply_codec``).
CODECS = (("MP3", "MPEG_LAYER_III"), ("OGG", "OPUS"))


def random_channel(wav, generator, sample_rate=SAMPLE_RATE):
    """Pass ``wav`` through a random recording channel (router training).

    Each effect is drawn independently, in the order a recording meets them:
    reverberation (p = 0.3, RT60 0.2-0.8 s), music-like chords underneath
    (p = 0.2, 5-25 dB below), noise (p = 0.5, 5-30 dB SNR, white to brown),
    a speed change (p = 0.3, by 0.9, 0.95, 1.05 or 1.1), gain from -20 to
    +12 dB with clipping (p = 0.7), a low-pass (p = 0.2, 2-6 kHz), the
    telephone band (p = 0.5, high-pass at 150-400 Hz, 8 kHz, mu-law half of
    the time), and MP3 or Opus coding (p = 0.3, SpeechBrain's
    ``CodecAugment``).

    Arguments
    ---------
    wav : torch.Tensor
        ``[samples]`` at ``sample_rate``.
    generator : torch.Generator
        Source of every random draw (reproducible).
    sample_rate : int
        The sample rate.

    Example
    -------
    >>> wav = 0.1 * torch.randn(16000)
    >>> a = random_channel(wav, torch.Generator().manual_seed(3))
    >>> b = random_channel(wav, torch.Generator().manual_seed(3))
    >>> a.shape, torch.equal(a, b)
    (torch.Size([16000]), True)
    """

    def uniform(low, high):
        return low + (high - low) * float(torch.rand((), generator=generator))

    if uniform(0, 1) < 0.3:
        wav = reverberate(wav, uniform(0.2, 0.8), generator, sample_rate)
    if uniform(0, 1) < 0.2:
        wav = add_music(wav, uniform(5, 25), generator, sample_rate)
    if uniform(0, 1) < 0.5:
        wav = add_noise(wav, uniform(5, 30), generator, uniform(0, 0.98))
    if uniform(0, 1) < 0.3:
        # a few factors, as SpeechBrain's SpeedPerturb: resampling between
        # rates with a small common divisor would take a huge filter
        wav = change_speed(wav, SPEEDS[int(uniform(0, len(SPEEDS)))], sample_rate)
    if uniform(0, 1) < 0.7:
        wav = gain_and_clip(wav, uniform(-20, 12))
    if uniform(0, 1) < 0.2:
        wav = AF.lowpass_biquad(wav, sample_rate, uniform(2000, 6000))
    if uniform(0, 1) < 0.5:
        wav = telephone_band(
            wav, sample_rate, uniform(150, 400), mu_law=uniform(0, 1) < 0.5
        )
    if uniform(0, 1) < 0.3:
        codec, encoder = CODECS[int(uniform(0, len(CODECS)))]
        wav = CodecAugment(sample_rate).apply_codec(wav, codec, encoder)
    return wav


# ---------------------------------------------------------------------------
# Features of lists of waveforms
# ---------------------------------------------------------------------------
def batch_features(extractor, wavs, batch_size=8):
    """Features of a list of waveforms, batched by length.

    Arguments
    ---------
    extractor : callable
        ``extractor(wavs, wav_lens)`` of a padded batch: a ``[batch, size]``
        tensor (``RouterFeatures``), or a list of them (several features
        computed together, as the benchmark's ``TapSet``).
    wavs : list of torch.Tensor
        ``[samples]`` 16 kHz waveforms.
    batch_size : int
        Utterances per forward pass.

    Returns
    -------
    torch.Tensor or list of torch.Tensor
        ``[len(wavs), size]`` (per feature, as ``extractor`` returns them),
        in the order of ``wavs``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
    >>> from speechbrain_lora_ser.bank.routing import RouterFeatures
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> batch_features(RouterFeatures(encoder), [torch.randn(n)
    ...     for n in (4000, 9000, 6000)], batch_size=2).shape
    torch.Size([3, 114])
    """
    order = sorted(range(len(wavs)), key=lambda i: wavs[i].shape[-1])
    results, single = None, True
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        longest = max(wavs[i].shape[-1] for i in rows)
        batch = torch.zeros(len(rows), longest)
        for position, i in enumerate(rows):
            batch[position, : wavs[i].shape[-1]] = wavs[i]
        lens = torch.tensor([wavs[i].shape[-1] / longest for i in rows])
        outputs = extractor(batch, lens)
        single = isinstance(outputs, torch.Tensor)
        outputs = [outputs] if single else list(outputs)
        if results is None:
            results = [[None] * len(wavs) for _ in outputs]
        for result, output in zip(results, outputs, strict=True):
            for position, i in enumerate(rows):
                result[i] = output[position]
    stacked = [torch.stack(result) for result in results]
    return stacked[0] if single else stacked


def augmented_features(extractor, wavs_per_language, copies=4, seed=0, batch_size=8):
    """Features of every language's utterances, clean and through random channels.

    Arguments
    ---------
    extractor : callable
        What ``batch_features`` takes (``RouterFeatures``).
    wavs_per_language : list of list of torch.Tensor
        For each language (its index is its label), its waveforms.
    copies : int
        Channel-augmented copies of each utterance besides the clean one.
    seed : int
        Seed of the channels (the same seed gives the same features).
    batch_size : int
        Utterances per forward pass.

    Returns
    -------
    features : torch.Tensor or list of torch.Tensor
        ``[n, size]`` (per feature, as ``extractor`` returns them).
    labels : torch.Tensor
        ``[n]`` language indices.
    """
    generator = torch.Generator().manual_seed(seed)
    wavs, labels = [], []
    for language, utterances in enumerate(wavs_per_language):
        for wav in utterances:
            wavs.append(wav)
            wavs += [random_channel(wav, generator) for _ in range(copies)]
            labels += [language] * (1 + copies)
    return batch_features(extractor, wavs, batch_size), torch.tensor(labels)


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------
def _class_weights(labels, classes):
    counts = torch.bincount(labels, minlength=classes).float()
    return counts.sum() / counts.clamp_min(1) / classes


def _balanced_entropy(logits, labels, classes):
    return torch.nn.functional.cross_entropy(
        logits, labels, weight=_class_weights(labels, classes)
    ).item()


def _train_detectors(router, detectors, data, decays, steps, seed):
    """Train ``detectors`` (the others frozen) on class-balanced cross-entropy.

    Full-batch AdamW (the sets are small); the state with the lowest
    development cross-entropy over the steps and the weight decays wins
    (early stopping and the L2 choice in one).

    Returns
    -------
    float
        The chosen weight decay.
    """
    train_features, train_labels, valid_features, valid_labels = data
    classes = router.languages
    weights = _class_weights(train_labels, classes)
    inputs = router.standardize(train_features)
    valid_inputs = router.standardize(valid_features)
    others = [d for d in router.detectors if all(d is not t for t in detectors)]
    with torch.no_grad():
        frozen = {id(d): (d(inputs), d(valid_inputs)) for d in others}

    def logits(x, which):
        columns = [
            frozen[id(d)][which] if id(d) in frozen else d(x) for d in router.detectors
        ]
        return torch.cat(columns, dim=-1) / router.temperature

    parameters = [p for d in detectors for p in d.parameters()]
    best = None
    for decay in decays:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for detector in detectors:
                for module in detector.modules():
                    if isinstance(module, torch.nn.Linear):
                        module.reset_parameters()
        optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=decay)
        for step in range(steps):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                logits(inputs, 0), train_labels, weight=weights
            )
            loss.backward()
            optimizer.step()
            if (step + 1) % 10 == 0:
                with torch.no_grad():
                    entropy = _balanced_entropy(
                        logits(valid_inputs, 1), valid_labels, classes
                    )
                if best is None or entropy < best[0]:
                    state = [
                        {k: v.clone() for k, v in d.state_dict().items()}
                        for d in detectors
                    ]
                    best = (entropy, decay, state)
    for detector, state in zip(detectors, best[2], strict=True):
        detector.load_state_dict(state)
    return best[1]


def _fit_temperature(router, features, labels):
    """Set the temperature that minimises the development cross-entropy."""
    with torch.no_grad():
        scores = router.scores(features)
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=1.0, max_iter=100, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(scores / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    router.temperature.fill_(float(log_t.exp().detach()))


def fit_router(
    train_features,
    train_labels,
    valid_features,
    valid_labels,
    features=None,
    languages=None,
    hidden=HIDDEN,
    decays=DECAYS,
    steps=STEPS,
    seed=0,
):
    """Train a ``LanguageRouter``; early stopping, L2 and temperature on dev.

    The detectors are trained jointly (``_train_detectors``); then one
    temperature scales the logits to minimise the development cross-entropy
    (routes unchanged, the top probability calibrated).

    Arguments
    ---------
    train_features, train_labels : torch.Tensor
        ``[n, size]`` features and ``[n]`` language indices.
    valid_features, valid_labels : torch.Tensor
        Development features and labels (seen through the same channels).
    features : dict, optional
        What the features are (``RouterFeatures.config``).
    languages : int, optional
        Number of languages (default: the largest label + 1).
    hidden : int
        Hidden units of each language's detector (0: logistic regression).
    decays : tuple of float
        AdamW weight decays to try.
    steps : int
        Full-batch optimisation steps.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    router : LanguageRouter
    info : dict
        ``decay``, ``temperature``, development ``accuracy`` and
        ``cross_entropy`` (after calibration).

    Example
    -------
    >>> generator = torch.Generator().manual_seed(0)
    >>> labels = torch.arange(3).repeat(40)
    >>> features = torch.randn(120, 5, generator=generator)
    >>> features += 3 * torch.nn.functional.one_hot(labels, 5)
    >>> router, info = fit_router(features[:90], labels[:90],
    ...     features[90:], labels[90:], {"source": "cepstra"}, steps=100)
    >>> info["accuracy"] > 0.9, info["temperature"] > 0
    (True, True)
    """
    classes = int(languages or int(train_labels.max()) + 1)
    router = LanguageRouter(train_features.shape[1], classes, features, hidden)
    router.mean.copy_(train_features.float().mean(0))
    router.std.copy_(train_features.float().std(0).clamp_min(1e-6))
    data = (train_features, train_labels, valid_features, valid_labels)
    decay = _train_detectors(router, list(router.detectors), data, decays, steps, seed)
    _fit_temperature(router, valid_features, valid_labels)
    return router, _summary(router, valid_features, valid_labels, decay=decay)


def _summary(router, features, labels, **extra):
    with torch.no_grad():
        logits = router.logits(features)
    return {
        **extra,
        "temperature": float(router.temperature),
        "accuracy": float((logits.argmax(-1) == labels).float().mean()),
        "cross_entropy": torch.nn.functional.cross_entropy(logits, labels).item(),
    }


def add_language(
    router,
    train_features,
    train_labels,
    valid_features,
    valid_labels,
    decays=DECAYS,
    steps=STEPS,
    seed=0,
):
    """Return a router with one more language, the earlier logits unchanged.

    A copy of ``router`` with one more detector, the only part trained
    (``_train_detectors`` on every language's utterances). An earlier
    language's utterance changes route only where the new logit wins or
    lowers the top probability under the threshold (``compare_routes``).

    Arguments
    ---------
    router : LanguageRouter
        The trained router of the earlier languages (left unchanged).
    train_features, train_labels, valid_features, valid_labels : torch.Tensor
        Every language's features, the new language labelled
        ``router.languages``.
    decays : tuple of float
        AdamW weight decays to try for the new detector.
    steps : int
        Full-batch optimisation steps.
    seed : int
        Seed of the new detector's initial weights.

    Returns
    -------
    new_router : LanguageRouter
    info : dict
        As ``fit_router``'s.

    Example
    -------
    >>> generator = torch.Generator().manual_seed(0)
    >>> labels = torch.arange(3).repeat(40)
    >>> features = torch.randn(120, 5, generator=generator)
    >>> features += 3 * torch.nn.functional.one_hot(labels, 5)
    >>> old = labels < 2
    >>> router, _ = fit_router(features[:90][old[:90]], labels[:90][old[:90]],
    ...     features[90:][old[90:]], labels[90:][old[90:]], steps=100)
    >>> new, info = add_language(router, features[:90], labels[:90],
    ...     features[90:], labels[90:], steps=100)
    >>> torch.equal(new.logits(features)[:, :2], router.logits(features))
    True
    >>> info["accuracy"] > 0.9
    True
    """
    new = copy.deepcopy(router)
    for parameter in new.parameters():
        parameter.requires_grad_(False)
    detector = new.add_detector()
    for parameter in detector.parameters():
        parameter.requires_grad_(True)
    data = (train_features, train_labels, valid_features, valid_labels)
    decay = _train_detectors(new, [detector], data, decays, steps, seed)
    for parameter in new.parameters():
        parameter.requires_grad_(True)
    return new, _summary(new, valid_features, valid_labels, decay=decay)


def train_router(
    extractor,
    train_wavs,
    valid_wavs,
    previous=None,
    copies=COPIES,
    batch_size=8,
    steps=STEPS,
):
    """Train a bank's router on each language's waveforms.

    Each utterance is heard clean and through ``copies`` random channels
    (``augmented_features``: the training set with seed 0, the development
    set with seed 1). Without ``previous`` every language's detector is
    fitted (``fit_router``); with it, only the last language's
    (``add_language``: the earlier languages' logits stay as they were).

    Arguments
    ---------
    extractor : RouterFeatures
        The features the router reads.
    train_wavs, valid_wavs : list of list of torch.Tensor
        For each language (its index is its label), its 16 kHz waveforms.
    previous : LanguageRouter, optional
        The trained router of all languages but the last.
    copies : int
        Channel-augmented copies of each utterance.
    batch_size : int
        Utterances per forward pass.
    steps : int
        Full-batch optimisation steps.

    Returns
    -------
    LanguageRouter

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
    >>> from speechbrain_lora_ser.bank.routing import RouterFeatures
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> wavs = [[torch.randn(8000) for _ in range(3)] for _ in range(2)]
    >>> train_router(RouterFeatures(encoder), wavs, wavs, copies=1, steps=10).languages
    2
    """
    started = time.perf_counter()
    logger.info(
        "router: features of %d training and %d development utterances, each "
        "clean and through %d random channels",
        sum(len(w) for w in train_wavs),
        sum(len(w) for w in valid_wavs),
        copies,
    )
    train = augmented_features(extractor, train_wavs, copies, 0, batch_size)
    valid = augmented_features(extractor, valid_wavs, copies, 1, batch_size)
    logger.info(
        "router: features in %.0f s; fitting the language detectors",
        time.perf_counter() - started,
    )
    if previous is None:
        return fit_router(*train, *valid, features=extractor.config, steps=steps)[0]
    return add_language(previous, *train, *valid, steps=steps)[0]


# ---------------------------------------------------------------------------
# What changed, and how sure the router is
# ---------------------------------------------------------------------------
def compare_routes(
    old, new, features, names=None, languages=None, min_probability=0.0, fallback=0
):
    """Every utterance whose route differs between two routers.

    Arguments
    ---------
    old, new : LanguageRouter
        Routers reading the same features (``new`` may have more languages).
    features : torch.Tensor
        ``[n, size]`` features of the utterances to compare.
    names : list of str, optional
        The utterances' names (default: their positions).
    languages : list of str, optional
        The new router's language names (default: indices); the old
        router's languages are the first of them.
    min_probability : float
        The bank's threshold: under it an utterance goes to ``fallback``.
    fallback : int
        The base model's language.

    Returns
    -------
    list of dict
        ``utterance``, ``before``, ``after`` (languages) and the top
        probabilities ``probability_before``, ``probability_after``.

    Example
    -------
    >>> router = LanguageRouter(2, 2)
    >>> compare_routes(router, router, torch.randn(4, 2))
    []
    """
    names = list(range(len(features))) if names is None else list(names)
    with torch.no_grad():
        before, p_before = old.route(features, min_probability, fallback)
        after, p_after = new.route(features, min_probability, fallback)
    label = (lambda i: languages[i]) if languages else (lambda i: i)
    changes = []
    for row in torch.nonzero(before != after).flatten().tolist():
        changes.append(
            {
                "utterance": names[row],
                "before": label(int(before[row])),
                "after": label(int(after[row])),
                "probability_before": float(p_before[row].max()),
                "probability_after": float(p_after[row].max()),
            }
        )
    return changes


def reliability(probabilities, labels, bins=10):
    """Reliability of the top probability: accuracy per confidence bin, ECE.

    Arguments
    ---------
    probabilities : torch.Tensor
        ``[n, languages]``.
    labels : torch.Tensor
        ``[n]`` true languages.
    bins : int
        Equal-width bins of the top probability over ``[1/languages, 1]``.

    Returns
    -------
    table : list of dict
        Per non-empty bin: ``low``, ``high``, ``count``, ``confidence``
        (mean top probability), ``accuracy``.
    ece : float
        Expected calibration error (count-weighted |accuracy - confidence|).

    Example
    -------
    >>> table, ece = reliability(torch.tensor([[0.9, 0.1], [0.6, 0.4]]),
    ...     torch.tensor([0, 1]), bins=2)
    >>> [(row["count"], row["accuracy"]) for row in table], round(ece, 2)
    ([(1, 0.0), (1, 1.0)], 0.35)
    """
    top, predicted = probabilities.max(-1)
    correct = (predicted == labels).float()
    low = 1.0 / probabilities.shape[1]
    edges = torch.linspace(low, 1.0, bins + 1)
    index = torch.bucketize(top, edges[1:-1], right=True)
    table, ece = [], 0.0
    for b in range(bins):
        keep = index == b
        count = int(keep.sum())
        if count == 0:
            continue
        confidence = float(top[keep].mean())
        accuracy = float(correct[keep].mean())
        ece += count / len(top) * abs(accuracy - confidence)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": confidence,
                "accuracy": accuracy,
            }
        )
    return table, ece


def threshold_table(probabilities, labels, thresholds):
    """Tabulate what each threshold catches: misrouted vs correct routes.

    Arguments
    ---------
    probabilities : torch.Tensor
        ``[n, languages]`` router probabilities.
    labels : torch.Tensor
        ``[n]`` true languages.
    thresholds : list of float
        Candidate thresholds.

    Returns
    -------
    list of dict
        Per threshold: ``threshold``, ``misrouted_caught`` (fraction of the
        misrouted utterances under it; None without any), ``correct_kept``
        (fraction of the correctly routed at or above it), ``misrouted`` and
        ``correct`` counts.

    Example
    -------
    >>> probabilities = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    >>> row = threshold_table(probabilities, torch.tensor([0, 0, 1]), [0.7])[0]
    >>> row["misrouted_caught"], row["correct_kept"]
    (1.0, 1.0)
    """
    top, predicted = probabilities.max(-1)
    wrong = predicted != labels
    rows = []
    for threshold in thresholds:
        below = top < threshold
        caught = float(below[wrong].float().mean()) if wrong.any() else None
        kept = float((~below[~wrong]).float().mean()) if (~wrong).any() else None
        rows.append(
            {
                "threshold": float(threshold),
                "misrouted_caught": caught,
                "correct_kept": kept,
                "misrouted": int(wrong.sum()),
                "correct": int((~wrong).sum()),
            }
        )
    return rows
