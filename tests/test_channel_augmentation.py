"""The identifier's training channels keep any batch finite.

A single NaN in a training batch makes every weight of the identifier NaN
(the bank then routes nothing), and a NaN reaching the MP3 encoder aborts
the process. Batches here mix lengths (a few to thousands of milliseconds),
levels (digital silence to full scale) and content (noise, tones), as a
corpus's utterances do once cropped and padded.
"""

import random

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from speechbrain.augment.time_domain import DoClip

from speechbrain_lora_ser.bank.channel_augmentation import (
    SAMPLE_RATE,
    ClipKeepingSilence,
    channel_augmenter,
    write_rooms,
)

LEVELS = [0.0, 1e-6, 0.01, 0.3, 1.0]


@st.composite
def batches(draw):
    """A padded batch of utterances and their relative lengths."""
    count = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    lengths = draw(
        st.lists(
            st.integers(SAMPLE_RATE // 100, 3 * SAMPLE_RATE),
            min_size=count,
            max_size=count,
        )
    )
    wavs = torch.zeros(count, max(lengths))
    for row, length in enumerate(lengths):
        level = draw(st.sampled_from(LEVELS))
        if draw(st.booleans()):
            content = torch.randn(length, generator=generator)
        else:
            frequency = draw(st.floats(50.0, 7000.0))
            content = torch.sin(torch.arange(length) * frequency / SAMPLE_RATE * 6.283)
        wavs[row, :length] = level * content
    lens = torch.tensor(lengths, dtype=torch.float) / max(lengths)
    return wavs, lens, seed


def test_clipping_leaves_silent_utterances_silent_and_clips_the_others_as_doclip():
    """SpeechBrain's ``DoClip`` makes a silent row NaN; this one keeps it."""
    wavs = torch.zeros(3, 800)
    wavs[1] = 0.4 * torch.sin(torch.arange(800) * 0.05)
    wavs[2, :100] = 0.02 * torch.randn(100)
    torch.manual_seed(3)
    assert torch.isnan(DoClip(clip_low=0.1, clip_high=0.5)(wavs)[0]).all()
    torch.manual_seed(3)
    clipped = ClipKeepingSilence(clip_low=0.1, clip_high=0.5)(wavs)
    torch.manual_seed(3)
    expected = DoClip(clip_low=0.1, clip_high=0.5)(wavs[1:])
    assert clipped[0].eq(0).all()
    assert torch.allclose(clipped[1:], expected)
    assert not torch.equal(clipped[1:], wavs[1:])  # clipping did happen


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches())
def test_every_training_channel_keeps_a_batch_finite(tmp_path, batch):
    """Any batch, through any draw of the augmentations, stays finite."""
    wavs, lens, seed = batch
    augmenter = channel_augmenter(write_rooms(str(tmp_path), count=2))
    torch.manual_seed(seed)
    random.seed(seed)
    for _ in range(3):
        with torch.no_grad():
            heard, heard_lens = augmenter(wavs, lens)
        assert torch.isfinite(heard).all()
        assert heard.shape[0] == wavs.shape[0]
        assert ((heard_lens > 0) & (heard_lens <= 1)).all()
