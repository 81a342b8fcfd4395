"""Live audio: 16-bit PCM in, rolling values every hop over the last window.

The client sends binary messages of little-endian signed 16-bit mono PCM
at ``Settings.live_sample_rate`` (16 kHz). After every ``hop_seconds`` of
new audio the service rates the last ``window_seconds`` (less at the
start) through the same batcher as uploads, so speech detection and
calibration are those of files, and sends one JSON message per hop.
"""

import os
import tempfile
import time

import numpy as np
import soundfile

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES


class LiveWindow:
    """The last window of a stream, and when a hop is due.

    Example
    -------
    >>> live = LiveWindow(sample_rate=4, window_seconds=2, hop_seconds=1)
    >>> live.push(np.zeros(3, dtype=np.int16).tobytes())
    False
    >>> live.push(np.zeros(2, dtype=np.int16).tobytes()), live.end_seconds
    (True, 1.25)
    >>> live.take_hop().shape
    (5,)
    """

    def __init__(self, sample_rate, window_seconds, hop_seconds):
        self.sample_rate = sample_rate
        self.window = int(round(window_seconds * sample_rate))
        self.hop = int(round(hop_seconds * sample_rate))
        self.samples = np.zeros(0, dtype=np.float32)
        self.received = 0
        self.next_hop = self.hop

    @property
    def end_seconds(self):
        """Seconds received so far."""
        return self.received / self.sample_rate

    def push(self, chunk):
        """Add PCM bytes; True when a hop is due."""
        if len(chunk) % 2:
            raise ValueError("16-bit PCM has an even number of bytes")
        pcm = np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768.0
        self.samples = np.concatenate([self.samples, pcm])[-self.window :]
        self.received += pcm.shape[0]
        return self.received >= self.next_hop

    def take_hop(self):
        """Return the window ending at the due hop; schedule the next hop."""
        while self.next_hop <= self.received:
            self.next_hop += self.hop
        return self.samples.copy()


async def rate_live(batcher, live, folder, language=None, calibrate=True):
    """Rate the current window of ``live``: the JSON message to send."""
    wav = live.take_hop()
    handle, path = tempfile.mkstemp(suffix=".wav", dir=folder)
    os.close(handle)
    began = time.perf_counter()
    try:
        soundfile.write(path, wav, live.sample_rate, subtype="FLOAT")
        row = await batcher.submit(path, language=language, calibrate=calibrate)
    finally:
        os.remove(path)
    end = live.end_seconds
    message = {
        "start": max(0.0, end - wav.shape[0] / live.sample_rate),
        "end": end,
        "seconds_to_values": time.perf_counter() - began,
    }
    for key in (
        *ATTRIBUTES,
        "label_low",
        "label_high",
        "language",
        "warning",
        "error",
        "not_learned",
    ):
        message[key] = row.get(key)
    return message
