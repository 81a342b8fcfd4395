r"""MSP-Podcast data preparation (run by train.py; usable on its own).

Reads Labels/labels_consensus.csv (older releases: labels_concensus.csv),
maps Train / Development (or Validation) / Test1 to train / valid / test,
checks every audio file and label, and writes JSON manifests. The layout
itself is ``speechbrain_lora_ser.data.MSP_PODCAST``.

> python msp_podcast_prepare.py /data/MSP-Podcast manifests/

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data import MSP_PODCAST, prepare_corpus


def prepare_msp_podcast(data_folder, save_folder, **options):
    """Validate an MSP-Podcast folder and write its manifests.

    Arguments
    ---------
    data_folder : str
        Folder with ``Audios/`` and ``Labels/``.
    save_folder : str
        Destination of ``train.json``, ``valid.json`` and ``test.json``.
    **options
        Passed to ``speechbrain_lora_ser.data.prepare_corpus``
        (``train_subset``, ``skip_invalid``...).

    Returns
    -------
    dict
        Path of each manifest.
    """
    return prepare_corpus(data_folder, save_folder, MSP_PODCAST, **options)


if __name__ == "__main__":
    print(prepare_msp_podcast(*sys.argv[1:3]))
