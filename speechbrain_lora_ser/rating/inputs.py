"""What to rate: audio files from folders, a manifest or a file list.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import json
import os

from speechbrain_lora_ser.serving.decoding import find_audio_files

#: Manifest keys that may hold a recording's path (recipe CSV/JSON and others).
PATH_KEYS = ("file", "path", "wav", "audio", "filepath")


def read_file_list(path):
    r"""Return the paths of a text file, one per line.

    Blank lines and ``#`` comments are skipped.

    Relative paths are taken from the list's folder.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "list.txt"), "w") as f:
    ...     _ = f.write("a.wav\n\n# note\n/data/b.flac\n")
    >>> [p.replace(folder, "F") for p in read_file_list(f"{folder}/list.txt")]
    ['F/a.wav', '/data/b.flac']
    """
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as stream:
        lines = (line.strip() for line in stream)
        return [os.path.join(base, line) for line in lines if line and line[0] != "#"]


def read_manifest(path):
    """Return the recording paths of a CSV or JSON manifest.

    A CSV needs a column named one of ``PATH_KEYS``; a JSON is a list of
    records or a mapping of ids to records (the recipes' layout), each with
    one of those keys. ``$data_root``-style placeholders are not expanded:
    paths are used as written, relative ones from the manifest's folder.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "m.json"), "w") as f:
    ...     json.dump({"u1": {"wav": "/x/1.wav"}, "u2": {"wav": "2.wav"}}, f)
    >>> [p.replace(folder, "F") for p in read_manifest(f"{folder}/m.json")]
    ['/x/1.wav', 'F/2.wav']
    """
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as stream:
        if path.lower().endswith(".json"):
            records = json.load(stream)
            if isinstance(records, dict):
                records = list(records.values())
        else:
            records = list(csv.DictReader(stream))
    paths = []
    for number, record in enumerate(records, 1):
        key = next((k for k in PATH_KEYS if record.get(k)), None)
        if key is None:
            raise ValueError(
                f"{path}: record {number} has none of the path keys {PATH_KEYS}"
            )
        paths.append(os.path.join(base, record[key]))
    return paths


def collect_inputs(paths=(), manifests=(), file_lists=()):
    """Return the sorted, de-duplicated recordings to rate.

    Arguments
    ---------
    paths : list of str
        Files and folders (searched recursively, as ``ser-predict`` does).
    manifests : list of str
        CSV or JSON manifests (``read_manifest``).
    file_lists : list of str
        Text files, one path per line (``read_file_list``).

    Returns
    -------
    list of str
        Absolute paths.

    Example
    -------
    >>> collect_inputs()
    []
    """
    files = list(find_audio_files(list(paths)))
    for manifest in manifests:
        files.extend(read_manifest(manifest))
    for file_list in file_lists:
        files.extend(read_file_list(file_list))
    return sorted({os.path.abspath(f) for f in files})
