"""BIIC-Podcast data preparation: checked manifests for train.py.

The corpus follows MSP-Podcast's layout (Audios/, Labels/labels_consensus.csv,
1-7 attribute scale) with partitions Train, Development and Test. Those names
come from public code that uses the corpus; if a release differs, change
``speechbrain_lora_ser.data.BIIC_PODCAST`` and nothing else.

Usage: python biic_podcast_prepare.py BIIC_FOLDER MANIFEST_FOLDER

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data import BIIC_PODCAST, prepare_corpus


def prepare_biic_podcast(data_folder, save_folder, **options):
    """Write the train, valid and test manifests of BIIC-Podcast.

    Every problem (missing or unreadable audio, bad labels, unknown
    partitions...) is reported at once, naming the file.

    Arguments
    ---------
    data_folder : str
        The BIIC-Podcast folder.
    save_folder : str
        Where the JSON manifests go.
    **options
        See ``speechbrain_lora_ser.data.prepare_corpus``.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}``.
    """
    return prepare_corpus(data_folder, save_folder, BIIC_PODCAST, **options)


if __name__ == "__main__":
    print(prepare_biic_podcast(*sys.argv[1:3]))
