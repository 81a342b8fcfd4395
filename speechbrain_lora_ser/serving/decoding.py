"""Audio files as the model hears them, in bounded memory, without torch.

The one reader of serving: ``EncoderRegressor`` (``serving.audio``,
``serving.long_audio``), the service, the rating jobs and the ONNX runtime
(``speechbrain_lora_ser.onnx``) all read audio here, so the paths agree
sample for sample. It imports numpy, soundfile and soxr only.

A file of any channel count is read in blocks, each block mixed down (the
mean of the channels) and resampled with soxr's streaming polyphase
resampler (``soxr.ResampleStream``, quality ``"HQ"``). Its memory does not
depend on how the two rates relate: torchaudio's ``Resample`` builds a
kernel of ``new / gcd`` rows, so an 8001 Hz file (gcd 1 with 16 kHz) cost
gigabytes; soxr costs a few megabytes at any rate (see
``benchmarks/resampling_memory.py``). The stream equals resampling the
whole file at once with ``soxr.resample`` (bitwise here; the tests allow
float rounding).

Rates from ``MIN_SAMPLE_RATE`` to ``MAX_SAMPLE_RATE`` are accepted; any
other is an ``AudioProblem`` naming the file and the rate.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import numpy as np
import soundfile
import soxr

#: Lowest sample rate accepted (Hz): below it there is no speech band to hear.
MIN_SAMPLE_RATE = 4000
#: Highest sample rate accepted (Hz): the highest rate studio formats use.
MAX_SAMPLE_RATE = 384000
#: Seconds of the file read at once (input rate).
BLOCK_SECONDS = 20.0
#: Most samples (all channels together) read at once, whatever the rate and
#: the channel count: 16 MB of float32.
MAX_BLOCK_SAMPLES = 1 << 22
#: soxr's quality for serving (its default, 'HQ').
QUALITY = "HQ"
#: Files a folder is searched for (``find_audio_files``).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".sph")


class AudioProblem(ValueError):
    """Audio that cannot be rated; the message names the file and the problem.

    Example
    -------
    >>> str(AudioProblem("a.wav", "audio file is empty"))
    'a.wav: audio file is empty'
    """

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def audio_seconds(path):
    """Duration of a file from its header, without reading the audio.

    Returns None when the header cannot be read (the file's error comes when
    it is read).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, np.zeros(24000, dtype="float32"), 16000)
    >>> audio_seconds(path), audio_seconds("missing.wav")
    (1.5, None)
    """
    try:
        return soundfile.info(str(path)).duration
    except Exception:  # soundfile raises several error types
        return None


def check_sample_rate(path, rate):
    """Refuse a rate outside ``MIN_SAMPLE_RATE`` to ``MAX_SAMPLE_RATE``.

    Example
    -------
    >>> check_sample_rate("a.wav", 8001)
    >>> check_sample_rate("a.wav", 1000)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.decoding.AudioProblem: a.wav: sample rate \
1000 Hz is not accepted (4000 to 384000 Hz)
    """
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioProblem(
            path,
            f"sample rate {rate} Hz is not accepted "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)",
        )


def stream_audio(path, sample_rate, block_seconds=BLOCK_SECONDS):
    """Read a file in blocks as mono float32 audio at ``sample_rate``.

    Holds one block of the file (at most ``MAX_BLOCK_SAMPLES`` samples) and
    soxr's state, whatever the file's length, rate and channel count.

    Arguments
    ---------
    path : str
        Any format soundfile reads (WAV, FLAC, OGG, MP3...).
    sample_rate : int
        The rate wanted (the model's).
    block_seconds : float
        Seconds of the file read at a time.

    Yields
    ------
    numpy.ndarray
        ``[samples]`` float32 blocks, in order (some may be empty).

    Raises
    ------
    AudioProblem
        Unreadable or empty file, a sample rate outside the accepted range;
        NaN or infinite samples (after scanning the whole file, to count
        them; nothing is yielded after the first bad block).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.flac")
    >>> soundfile.write(path, np.zeros((44100, 2), dtype="float32"), 44100)
    >>> sum(block.shape[0] for block in stream_audio(path, 16000))
    16000
    """
    handle = _open(path)
    with handle:
        rate = handle.samplerate
        check_sample_rate(path, rate)
        resampler = None
        if rate != sample_rate:
            resampler = soxr.ResampleStream(
                rate, sample_rate, 1, dtype="float32", quality=QUALITY
            )
        scan = _FiniteScan()
        for block in _blocks(path, handle, block_seconds):
            if scan.clean(block):
                mono = block.mean(axis=1, dtype=np.float32)
                yield mono if resampler is None else resampler.resample_chunk(mono)
        scan.check(path, handle.channels, rate)
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _open(path):
    if not os.path.exists(path):
        raise AudioProblem(path, "no such file")
    try:
        return soundfile.SoundFile(str(path))
    except Exception as error:  # soundfile raises several error types
        raise AudioProblem(path, f"unreadable audio ({error})") from error


def _blocks(path, handle, block_seconds):
    """Yield the file's ``[frames, channels]`` blocks, at most ``MAX_BLOCK_SAMPLES``."""
    frames = int(block_seconds * handle.samplerate)
    frames = max(1, min(frames, MAX_BLOCK_SAMPLES // max(handle.channels, 1)))
    while True:
        try:
            block = handle.read(frames, dtype="float32", always_2d=True)
        except Exception as error:  # a corrupt stream fails mid-file
            raise AudioProblem(path, f"unreadable audio ({error})") from error
        if block.shape[0] == 0:
            return
        yield block


class _FiniteScan:
    """NaN and infinite samples, counted over the whole file.

    From the first block that holds one, no block is clean: the file is
    scanned on to count them all, and nothing more is given.
    """

    def __init__(self):
        self.read = self.bad = 0
        self.first_bad = None  # frame of the first bad sample

    def clean(self, block):
        """Count a block; return whether it may be given."""
        finite = np.isfinite(block)
        if self.first_bad is None and not finite.all():
            self.first_bad = self.read + int(np.argmin(finite.all(axis=1)))
        self.read += block.shape[0]
        if self.first_bad is not None:
            self.bad += int(block.size - np.count_nonzero(finite))
            return False
        return True

    def check(self, path, channels, rate):
        """Refuse an empty file, or one with a bad sample (``AudioProblem``)."""
        if self.read == 0:
            raise AudioProblem(path, "audio file is empty")
        if self.first_bad is not None:
            raise AudioProblem(
                path,
                f"{self.bad} of {self.read * channels} samples are NaN or infinite "
                "(a corrupt or badly converted file; the first at "
                f"{self.first_bad / rate:.2f} s)",
            )


def read_audio(path, sample_rate, block_seconds=BLOCK_SECONDS):
    """Read a whole file as mono float32 audio at ``sample_rate``.

    The blocks of ``stream_audio`` joined: memory is the output plus a
    block. Raises ``AudioProblem`` as ``stream_audio``.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "odd.wav")
    >>> soundfile.write(path, np.zeros((8001, 3), dtype="float32"), 8001)
    >>> read_audio(path, 16000).shape  # 1 s, mono, 16 kHz
    (16000,)
    """
    blocks = list(stream_audio(path, sample_rate, block_seconds))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def file_error(path, error):
    """Return the error-row message of a file whose rating raised ``error``.

    An ``AudioProblem`` gives its message (the file and the problem); any
    other exception its type and message after the file's name.
    ``MemoryError`` is raised on: the process, not the file, is short of
    memory, and the next files would fail the same way.

    Example
    -------
    >>> file_error("a.wav", ValueError("bad"))
    'a.wav: ValueError: bad'
    """
    if isinstance(error, MemoryError):
        raise error
    if isinstance(error, AudioProblem):
        return str(error)
    return f"{path}: {type(error).__name__}: {error}"


def _identity(path):
    """Return the file behind a path (symlinks and hard links followed)."""
    try:
        stat = os.stat(path)
        return (stat.st_dev, stat.st_ino)
    except OSError:
        return os.path.realpath(path)


def find_audio_files(paths):
    """Expand files and folders into a sorted list of audio files, each once.

    A file reached twice (given twice, inside two given folders, or through
    a symlink or hard link) is listed once, under its first path in sorted
    order.

    Arguments
    ---------
    paths : list of str
        Files (taken as given) and folders (searched recursively).

    Returns
    -------
    list of str

    Example
    -------
    >>> find_audio_files([])
    []
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files.extend(
                    os.path.join(root, name)
                    for name in names
                    if name.lower().endswith(AUDIO_EXTENSIONS)
                )
        else:
            files.append(path)
    unique, seen = [], set()
    for path in sorted(files):
        identity = _identity(path)
        if identity not in seen:
            seen.add(identity)
            unique.append(path)
    return unique
