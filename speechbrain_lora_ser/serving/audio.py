"""Audio for serving: read any file, and say what is wrong with odd audio.

Everyday files are not corpus utterances: they can be silent, clipped to a
constant, too short for the encoder, or hold NaN samples. ``read_audio``
reads and converts a file (any channel count, any rate from 4 to 384 kHz,
through ``speechbrain_lora_ser.serving.decoding``) and refuses what no
model can rate; ``signal_warning`` (``serving.windows``, numpy only) says
when the audio is silent or nearly so. Nothing here knows a corpus or a training recipe.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch

from speechbrain_lora_ser.serving import decoding
from speechbrain_lora_ser.serving.decoding import AudioProblem  # noqa: F401
from speechbrain_lora_ser.serving.windows import (  # noqa: F401 - re-exported
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    signal_warning,
)


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
