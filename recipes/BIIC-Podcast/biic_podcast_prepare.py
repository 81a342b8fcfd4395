"""Data preparation for BIIC-Podcast: validated SpeechBrain JSON manifests.

The corpus layout (Audios/, Labels/labels_consensus.csv, partition names) is
``speechbrain_lora_ser.data.BIIC_PODCAST``; this module is the recipe's entry point.

> python biic_podcast_prepare.py /path/to/BIIC-Podcast manifests/

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data import BIIC_PODCAST, prepare_corpus


def prepare_biic_podcast(data_folder, save_folder, **options):
    """Write train/valid/test manifests of a BIIC-Podcast folder.

    Arguments
    ---------
    data_folder : str
        The BIIC-Podcast folder.
    save_folder : str
        Where the JSON manifests go.
    **options
        ``train_subset``, ``subset_seed``, ``skip_invalid``, ``min_duration``
        (see ``speechbrain_lora_ser.data.prepare_corpus``).

    Returns
    -------
    dict
        Manifest path per split.
    """
    return prepare_corpus(data_folder, save_folder, BIIC_PODCAST, **options)


if __name__ == "__main__":
    print(prepare_biic_podcast(sys.argv[1], sys.argv[2]))
