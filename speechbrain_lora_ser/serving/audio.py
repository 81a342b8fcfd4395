"""Audio for serving: read any file, and say what is wrong with odd audio.

Everyday files are not corpus utterances: they can be silent, clipped to a
constant, too short for the encoder, or hold NaN samples. ``read_audio``
reads and converts a file (any channel count, any rate from 4 to 384 kHz,
through ``speechbrain_lora_ser.serving.decoding``) and refuses what no
model can rate; ``signal_warning`` says when the audio is silent or nearly
so. Nothing here knows a corpus or a training recipe.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import torch

from speechbrain_lora_ser.serving import decoding
from speechbrain_lora_ser.serving.decoding import AudioProblem  # noqa: F401

#: Peak amplitude below which a signal is digital silence (16-bit: < 1 LSB).
SILENCE_PEAK = 1.0 / 32768
#: RMS level (dBFS) below which audio is flagged as near-silence.
NEAR_SILENCE_DBFS = -60.0


def read_audio(path, sample_rate):
    """Read a file as a mono waveform at the model's sample rate.

    ``speechbrain_lora_ser.serving.decoding.read_audio`` (blocks, soxr:
    bounded memory at any accepted rate) as a tensor.

    Arguments
    ---------
    path : str
        Any format soundfile reads (WAV, FLAC, OGG, MP3...).
    sample_rate : int
        The model's rate.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float32 waveform.

    Raises
    ------
    AudioProblem
        Unreadable or empty files, NaN or infinite samples, and a sample
        rate outside ``decoding.MIN_SAMPLE_RATE`` to ``MAX_SAMPLE_RATE``.

    Example
    -------
    >>> import os, tempfile, numpy, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
    >>> soundfile.write(path, numpy.zeros((8000, 2), dtype="float32"), 8000)
    >>> read_audio(path, 16000).shape  # 1 s, mono, 16 kHz
    torch.Size([16000])
    """
    return torch.from_numpy(decoding.read_audio(path, sample_rate))


def check_duration(path, wav, sample_rate, min_samples):
    """Refuse audio shorter than the encoder's receptive field.

    Example
    -------
    >>> check_duration("a.wav", torch.zeros(200), 16000, 400)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.decoding.AudioProblem: a.wav: audio is 12.5 ms long; \
the encoder needs at least 25.0 ms (400 samples at 16000 Hz)
    """
    if wav.shape[-1] < min_samples:
        raise AudioProblem(
            path,
            f"audio is {1000 * wav.shape[-1] / sample_rate:.1f} ms long; the "
            f"encoder needs at least {1000 * min_samples / sample_rate:.1f} ms "
            f"({min_samples} samples at {sample_rate} Hz)",
        )


def signal_warning(wav, silence_peak=SILENCE_PEAK, near_silence_dbfs=NEAR_SILENCE_DBFS):
    """Say whether a waveform is silent or constant (values withheld) or quiet.

    Digital silence and a constant signal (e.g. clipped to one value) carry
    no speech: the waveform normalisation would turn them into noise-free
    zeros, and any value the model gave would be an artefact, so they are
    withheld. Near-silence is still rated (normalisation restores the level
    of quiet but real speech), with a warning.

    Arguments
    ---------
    wav : torch.Tensor
        ``[samples]`` waveform.
    silence_peak : float
        Peak amplitude below which the audio is digital silence.
    near_silence_dbfs : float
        RMS level below which the audio is flagged as near-silence.

    Returns
    -------
    warning : str or None
        What is odd about the audio.
    withhold : bool
        Whether no value should be given.

    Example
    -------
    >>> signal_warning(torch.zeros(16000))
    ('digital silence (peak 0): no speech to rate, values withheld', True)
    >>> signal_warning(torch.full((16000,), 0.99))[1]
    True
    >>> signal_warning(0.5 * torch.sin(torch.arange(16000.0)))
    (None, False)
    """
    peak = wav.abs().max().item()
    if peak < silence_peak:
        return (
            f"digital silence (peak {peak:.2g}): no speech to rate, values withheld",
            True,
        )
    spread = (wav.max() - wav.min()).item()
    if spread < silence_peak:
        return (
            f"constant signal (every sample is {wav[0].item():.3g}): no speech "
            "to rate, values withheld",
            True,
        )
    rms = wav.double().pow(2).mean().sqrt().item()
    level = 20 * math.log10(max(rms, 1e-12))
    if level < near_silence_dbfs:
        return (
            f"near-silence (RMS {level:.1f} dBFS, below {near_silence_dbfs:g}): "
            "values may be unreliable",
            False,
        )
    return None, False


def receptive_field(config):
    """Fewest samples a wav2vec2-style encoder needs for one output frame.

    Example
    -------
    >>> from transformers import WavLMConfig
    >>> receptive_field(WavLMConfig())  # WavLM / HuBERT: 25 ms at 16 kHz
    400
    """
    field, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride, strict=True):
        field += (kernel - 1) * stride
        stride *= step
    return field
