"""BIIC-Podcast data preparation: checked SpeechBrain manifests.

BIIC-Podcast (Taiwanese Mandarin podcast speech, NTHU BIIC lab) was built
with MSP-Podcast's infrastructure and annotation protocol; this layout
follows public code that uses the corpus (no official document confirms it)::

    BIIC-Podcast/
      Audios/<FileName>.wav
      Labels/labels_consensus.csv
        FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set

with partitions ``Train`` / ``Development`` / ``Test`` and attributes on a
1-7 scale (the recipe's YAML declares the range). If a release differs,
change ``BIIC_PODCAST`` below and nothing else.

> python biic_podcast_prepare.py /data/BIIC-Podcast manifests/ [LOW HIGH]

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.data.corpus import CorpusLayout, prepare_corpus

BIIC_PODCAST = CorpusLayout(
    partitions={
        "train": ("Train",),
        "valid": ("Development",),
        "test": ("Test",),
    },
    other_partitions=(),
    audio_folder="Audios",
    label_files=("Labels/labels_consensus.csv",),
    id_column="FileName",
    partition_column="Split_Set",
    attribute_columns={
        "arousal": "EmoAct",
        "valence": "EmoVal",
        "dominance": "EmoDom",
    },
)


def prepare_biic_podcast(data_folder, save_folder, **options):
    """Validate a BIIC-Podcast folder and write its manifests.

    Every problem (missing or unreadable audio, bad labels, unknown
    partitions...) is reported at once, naming the file; nothing is written
    unless the corpus is valid (or ``skip_invalid=True``).

    Arguments
    ---------
    data_folder : str
        The BIIC-Podcast folder.
    save_folder : str
        Where the JSON manifests go.
    **options
        ``label_range``, ``train_subset``, ``subset_seed``, ``skip_invalid``,
        ``min_duration``: see ``speechbrain_lora_ser.data.corpus.prepare_corpus``.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus
    >>> folder = write_demo_corpus(
    ...     tempfile.mkdtemp(), "mandarin", BIIC_PODCAST, (2, 1, 1)
    ... )
    >>> sorted(prepare_biic_podcast(folder, tempfile.mkdtemp()))
    ['test', 'train', 'valid']
    """
    return prepare_corpus(data_folder, save_folder, BIIC_PODCAST, **options)


if __name__ == "__main__":
    # LOW HIGH: the label scale, the recipe's label_low and label_high
    data_folder, save_folder, *scale = sys.argv[1:]
    label_range = tuple(map(float, scale)) if scale else (1.0, 7.0)
    print(
        prepare_biic_podcast(data_folder, save_folder, label_range=label_range)
    )
