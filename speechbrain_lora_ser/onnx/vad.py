"""Speech detection with Silero VAD's own ONNX model (no torch).

``serving.speech_frames.FrameSpeech`` (the frames, spans rescaled to
``VAD_LEVEL_DBFS``, the threshold, margins and the speech a window needs,
shared with ``serving.long_audio.SpeechDetector``) given Silero's ONNX
model (copied into the model folder on export), run by ONNX Runtime, in
place of its TorchScript model. The two models of the silero-vad package
give probabilities that differ slightly, so a frame near the threshold can
be judged differently.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import numpy as np
import onnxruntime

from speechbrain_lora_ser.serving.speech_frames import FrameSpeech
from speechbrain_lora_ser.serving.speech_share import VAD_THRESHOLD
from speechbrain_lora_ser.serving.windows import SILENCE_PEAK


def vad_session(path):
    """Open an ONNX Runtime session of Silero VAD (one thread, as Silero's tools)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


class SpeechDetector(FrameSpeech):
    """Silero VAD (its ONNX model) over a stream: one speech flag per frame.

    Arguments
    ---------
    session : onnxruntime.InferenceSession
        Silero VAD (``vad_session``); it carries no state of its own: the
        detector keeps the model's state and context between frames.
    sample_rate : int
        16000 or 8000.
    threshold : float
        Speech probability from which a frame is speech.
    silence_peak : float
        Peak below which a span is digital silence (not rescaled).
    """

    def __init__(
        self,
        session,
        sample_rate=16000,
        threshold=VAD_THRESHOLD,
        silence_peak=SILENCE_PEAK,
    ):
        super().__init__(self._probability, sample_rate, threshold, silence_peak)
        self.session = session
        self.context = np.zeros((1, 64 if sample_rate == 16000 else 32), np.float32)
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.rate = np.array(sample_rate, dtype=np.int64)

    def _probability(self, frame):
        audio = np.concatenate([self.context, frame[None].astype(np.float32)], axis=1)
        probability, self.state = self.session.run(
            None, {"input": audio, "state": self.state, "sr": self.rate}
        )
        self.context = audio[:, -self.context.shape[1] :]
        return float(probability.reshape(-1)[0])
