"""The channels a bank's language identifier trains through.

SpeechBrain's augmentation (``speechbrain.augment``: reverberation, noise,
speed, dropped frequency bands and chunks, clipping, lossy codecs) plus two
pieces it lacks: the telephone band (torchaudio's resampler, 8 kHz and
back) and clipping that leaves a silent utterance silent
(``ClipKeepingSilence``).

Example
-------
>>> import tempfile
>>> augmenter = channel_augmenter(write_rooms(tempfile.mkdtemp(), count=2))
>>> wavs = torch.zeros(2, 16000)
>>> wavs[0] = 0.1 * torch.randn(16000)
>>> heard, lens = augmenter(wavs, torch.ones(2))
>>> bool(torch.isfinite(heard).all())
True

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import os

import soundfile
import torch
import torchaudio.functional as AF
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.codec import CodecAugment
from speechbrain.augment.time_domain import (
    AddNoise,
    AddReverb,
    DoClip,
    DropChunk,
    DropFreq,
    SpeedPerturb,
)

SAMPLE_RATE = 16000
#: Synthetic rooms written for SpeechBrain's ``AddReverb``.
ROOMS = 24


class ClipKeepingSilence(DoClip):
    """SpeechBrain's ``DoClip``, leaving an all-zero utterance as it is.

    ``DoClip`` divides each utterance by its peak, so a silent one (digital
    silence in a corpus, or a short utterance whose every sample
    ``DropChunk`` dropped before it) becomes NaN, which poisons the
    identifier's weights and makes the MP3 encoder abort the process.
    SpeechBrain 1.1 has no option for it, hence this override.

    Example
    -------
    >>> wavs = torch.stack([torch.zeros(8), torch.linspace(-1.0, 1.0, 8)])
    >>> clipped = ClipKeepingSilence(clip_low=0.5, clip_high=0.5)(wavs)
    >>> clipped[0].tolist() == [0.0] * 8, float(clipped[1].abs().max())
    (True, 1.0)
    """

    def forward(self, waveforms):
        """Clip every utterance with a non-zero peak; keep the silent ones."""
        silent = waveforms.flatten(1).abs().amax(dim=1) == 0
        if not silent.any():
            return super().forward(waveforms)
        clipped = waveforms.clone()
        if not silent.all():
            clipped[~silent] = super().forward(waveforms[~silent])
        return clipped


class TelephoneBand(torch.nn.Module):
    """Resample to 8 kHz and back: a call's band (torchaudio's resampler).

    Example
    -------
    >>> TelephoneBand()(torch.randn(2, 16000)).shape
    torch.Size([2, 16000])
    """

    def forward(self, wavs):
        """Band-limit a ``[batch, samples]`` batch."""
        narrow = AF.resample(wavs, SAMPLE_RATE, 8000)
        return AF.resample(narrow, 8000, SAMPLE_RATE)[:, : wavs.shape[1]]


def write_rooms(folder, count=ROOMS, seed=0):
    """Write synthetic room impulse responses and ``AddReverb``'s CSV.

    No RIR corpus can be downloaded here, so each room is exponentially
    decaying noise (RT60 0.2-0.9 s) after a direct path of 0.3-1.0 (near
    and far speakers).

    Example
    -------
    >>> import tempfile
    >>> path = write_rooms(tempfile.mkdtemp(), count=2)
    >>> open(path).readline().strip()
    'ID,duration,wav,wav_format,wav_opts'
    """
    os.makedirs(folder, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    path = os.path.join(folder, "rooms.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "duration", "wav", "wav_format", "wav_opts"])
        for index in range(count):
            draw = torch.rand(2, generator=generator).tolist()
            rt60 = 0.2 + 0.7 * draw[0]
            time = torch.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
            tail = torch.randn(time.shape[0], generator=generator)
            rir = tail * torch.exp(-6.9 * time / rt60) * 0.3
            rir[0] = 0.3 + 0.7 * draw[1]
            wav = os.path.join(folder, f"room{index}.wav")
            soundfile.write(wav, rir.numpy(), SAMPLE_RATE)
            writer.writerow([f"room{index}", f"{rt60:.3f}", wav, "wav", ""])
    return path


def channel_augmenter(rooms_csv):
    """SpeechBrain's augmentation of the identifier's training batches.

    One to four of: reverberation, white noise at 5-30 dB SNR, a speed
    change of 5-10 %, dropped frequency bands, dropped chunks of 60-125 ms
    (as the VoxLingua107 recipe's), clipping, the telephone band, and
    mu-law, MP3 or Opus coding; each batch at 80 %.
    """
    return Augmenter(
        min_augmentations=1,
        max_augmentations=4,
        shuffle_augmentations=True,
        augment_prob=0.8,
        augmentations=[
            AddReverb(rooms_csv),
            AddNoise(snr_low=5, snr_high=30),
            SpeedPerturb(SAMPLE_RATE, speeds=[90, 95, 105, 110]),
            DropFreq(drop_freq_count_low=1, drop_freq_count_high=3),
            DropChunk(
                drop_length_low=1000,
                drop_length_high=2000,
                drop_count_low=1,
                drop_count_high=5,
            ),
            ClipKeepingSilence(clip_low=0.05, clip_high=0.5),
            TelephoneBand(),
            CodecAugment(SAMPLE_RATE),
        ],
    )
