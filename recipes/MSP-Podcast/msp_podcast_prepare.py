"""MSP-Podcast data preparation: checked SpeechBrain manifests.

The corpus (English podcast speech, UT Dallas MSP lab)::

    MSP-Podcast/
      Audios/MSP-PODCAST_0001_0008.wav ...            16 kHz mono
      Labels/labels_consensus.csv
        FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set

Attributes are annotator means on a 1-7 scale (the recipe's YAML declares
the range). Release differences handled here: older releases spell the label
file ``labels_concensus.csv`` and the development partition ``Validation``;
``Test2`` and ``Test3`` (v1.12; Test3 has no labels) are predicted, not used
for training or model selection.

> python msp_podcast_prepare.py /data/MSP-Podcast manifests/ [LOW HIGH]

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data.corpus import CorpusLayout, prepare_corpus

MSP_PODCAST = CorpusLayout(
    partitions={
        "train": ("Train",),
        "valid": ("Development", "Validation"),
        "test": ("Test1",),
    },
    other_partitions=("Test2", "Test3"),
    audio_folder="Audios",
    label_files=("Labels/labels_consensus.csv", "Labels/labels_concensus.csv"),
    id_column="FileName",
    partition_column="Split_Set",
    attribute_columns={
        "arousal": "EmoAct",
        "valence": "EmoVal",
        "dominance": "EmoDom",
    },
)


def prepare_msp_podcast(data_folder, save_folder, **options):
    """Validate an MSP-Podcast folder and write its manifests.

    Every problem (missing or unreadable audio, bad labels, unknown
    partitions...) is reported at once, naming the file; nothing is written
    unless the corpus is valid (or ``skip_invalid=True``).

    Arguments
    ---------
    data_folder : str
        Folder with ``Audios/`` and ``Labels/``.
    save_folder : str
        Destination of ``train.json``, ``valid.json``, ``test.json`` and
        ``Test2.json`` / ``Test3.json`` when present.
    **options
        ``label_range``, ``train_subset``, ``subset_seed``, ``skip_invalid``,
        ``min_duration``: see ``speechbrain_lora_ser.data.corpus.prepare_corpus``.

    Returns
    -------
    dict
        Path of each partition's manifest.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus
    >>> folder = write_demo_corpus(
    ...     tempfile.mkdtemp(), "english", MSP_PODCAST, (2, 1, 1)
    ... )
    >>> sorted(prepare_msp_podcast(folder, tempfile.mkdtemp()))
    ['test', 'train', 'valid']
    """
    return prepare_corpus(data_folder, save_folder, MSP_PODCAST, **options)


if __name__ == "__main__":
    # LOW HIGH: the label scale, the recipe's label_low and label_high
    data_folder, save_folder, *scale = sys.argv[1:]
    label_range = tuple(map(float, scale)) if scale else (1.0, 7.0)
    print(
        prepare_msp_podcast(data_folder, save_folder, label_range=label_range)
    )
