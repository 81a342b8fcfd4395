"""Real spoken audio for tests and the demo, through eSpeak NG (``espeakng-loader``).

The PyPI package ``espeakng-loader`` ships ``libespeak-ng`` with English and
Mandarin voices; there is no maintained Python binding for its synthesis API,
so this module drives the C API through ``ctypes`` (a handful of calls).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import ctypes
import threading

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Speaker:
    """Speaks text with eSpeak NG and returns float32 waveforms.

    Example
    -------
    >>> speaker = Speaker()
    >>> wav, rate = speaker.say("hello world", voice="en-us")
    >>> rate, wav.dtype, len(wav) > rate // 4
    (22050, dtype('float32'), True)
    """

    _lock = threading.Lock()
    _library = None
    _sample_rate = None

    def __init__(self):
        with Speaker._lock:
            if Speaker._library is None:
                try:
                    import espeakng_loader
                except ImportError as error:  # pragma: no cover - install hint
                    raise ImportError(
                        "speech synthesis needs the 'espeakng-loader' package: "
                        "pip install 'speechbrain-lora-ser[demo]'"
                    ) from error
                library = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
                data_path = espeakng_loader.get_data_path().encode()
                library.espeak_Initialize.restype = ctypes.c_int
                rate = library.espeak_Initialize(
                    _AUDIO_OUTPUT_SYNCHRONOUS, 0, ctypes.c_char_p(data_path), 0
                )
                if rate <= 0:
                    raise RuntimeError("eSpeak NG failed to initialise")
                Speaker._library, Speaker._sample_rate = library, rate
        self._chunks = []
        self._callback = _CALLBACK(self._collect)

    def _collect(self, wav, count, _events):
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def say(self, text, voice="en-us", rate=175, pitch=50, pitch_range=50, volume=100):
        """Synthesise ``text``.

        Arguments
        ---------
        text : str
            What to say (Chinese characters for the ``cmn`` voice).
        voice : str
            eSpeak NG voice name (``en-us``, ``en``, ``cmn``, ``en-us+f3``...).
        rate : int
            Words per minute (80-450).
        pitch : int
            Base pitch, 0-100.
        pitch_range : int
            Pitch range (intonation), 0-100.
        volume : int
            Amplitude, 0-200.

        Returns
        -------
        wav : numpy.ndarray
            float32 samples in [-1, 1].
        sample_rate : int
            Sample rate of ``wav``.
        """
        library = Speaker._library
        with Speaker._lock:
            self._chunks = []
            library.espeak_SetSynthCallback(self._callback)
            if library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice named {voice!r}")
            for parameter, value in (
                (_RATE, rate),
                (_PITCH, pitch),
                (_RANGE, pitch_range),
                (_VOLUME, volume),
            ):
                library.espeak_SetParameter(parameter, int(value), 0)
            data = text.encode("utf-8")
            library.espeak_Synth(
                ctypes.c_char_p(data), len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None
            )
            library.espeak_Synchronize()
            chunks = self._chunks
        if not chunks:
            raise RuntimeError(f"eSpeak NG produced no audio for {text!r}")
        wav = np.concatenate(chunks).astype(np.float32) / 32768.0
        return wav, Speaker._sample_rate
