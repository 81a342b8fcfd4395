"""Uploaded audio saved beside the service, within size and duration limits."""

import os
import tempfile

import soundfile


class UploadProblem(Exception):
    """An upload the service refuses: ``status`` (413, 415, 422) and why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


async def save_upload(upload, settings, folder):
    """Write an ``UploadFile`` to ``folder``; checks size, format and duration.

    Returns
    -------
    str
        The saved file's path (the caller removes it).

    Raises
    ------
    UploadProblem
        413 past ``max_upload_bytes`` or ``max_seconds``; 422 for audio
        that cannot be read (the message names the file and the problem).
    """
    name = os.path.basename(upload.filename or "upload")
    suffix = os.path.splitext(name)[1] or ".wav"
    handle, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await upload.read(1 << 16):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise UploadProblem(
                        413,
                        f"{name}: larger than {settings.max_upload_bytes} bytes "
                        "(ser-serve --max_upload_bytes)",
                    )
                out.write(chunk)
        check_duration(path, name, settings.max_seconds)
    except BaseException:
        os.remove(path)
        raise
    return path


def check_duration(path, name, max_seconds):
    """Raise ``UploadProblem`` when ``path`` is unreadable or too long.

    Example
    -------
    >>> try:
    ...     check_duration("/nonexistent.wav", "x.wav", 10)
    ... except UploadProblem as problem:
    ...     print(problem.status, problem.message.split(" (")[0])
    422 x.wav: not readable audio
    """
    if os.path.exists(path) and os.path.getsize(path) == 0:
        raise UploadProblem(422, f"{name}: the upload is empty (0 bytes)")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        reason = str(error).split(": ")[-1]
        raise UploadProblem(422, f"{name}: not readable audio ({reason})") from None
    if info.frames == 0:
        raise UploadProblem(422, f"{name}: no audio samples")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise UploadProblem(
            413,
            f"{name}: {seconds:.1f} s is longer than {max_seconds:g} s "
            "(ser-serve --max_seconds)",
        )
