"""Data preparation for MSP-Podcast: validated SpeechBrain JSON manifests.

The corpus layout (Audios/, Labels/labels_consensus.csv, partition names) is
``speechbrain_lora_ser.data.MSP_PODCAST``; this module is the recipe's entry point.

> python msp_podcast_prepare.py /path/to/MSP-Podcast manifests/

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data import MSP_PODCAST, prepare_corpus


def prepare_msp_podcast(data_folder, save_folder, **options):
    """Write train/valid/test manifests of a MSP-Podcast folder.

    Arguments
    ---------
    data_folder : str
        The MSP-Podcast folder.
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
    return prepare_corpus(data_folder, save_folder, MSP_PODCAST, **options)


if __name__ == "__main__":
    print(prepare_msp_podcast(sys.argv[1], sys.argv[2]))
