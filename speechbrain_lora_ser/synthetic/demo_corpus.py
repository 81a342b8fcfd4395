"""Small emotional corpora of synthetic speech, written in a recipe's layout.

Each utterance is real synthetic speech (eSpeak NG) whose arousal, valence
and dominance are carried by prosody: speaking rate and pitch follow arousal,
pitch range follows valence, and dominance follows arousal and loudness.
Every language maps the attributes to prosody differently, so a model trained
on one language transfers only partly to another, which is what LoRA
adaptation addresses. The corpus is written in whatever ``CorpusLayout`` the
recipe's prepare module declares (one label table or a table per partition,
CSV / TSV / any delimiter / JSON lines, columns and partition names), with
the audio as WAV or FLAC at any rate, flat or in ``<speaker>/`` sub-folders,
listed by relative or absolute path, and labels on any scale.

Without eSpeak NG (``speech=False``), each utterance is a short sequence of
harmonic tones ("syllables") whose pitch, rate, pitch movement and loudness
follow the same prosody mapping: a corpus of the same shape in milliseconds,
for data-flow checks (setup scripts of recipe tests) that need no speech.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import json
import os
import random

import numpy as np
import soundfile
import torch
import torchaudio.functional

from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

ENGLISH_SENTENCES = (
    "The weather is lovely today.",
    "I did not expect to see you here.",
    "We have to leave before the train arrives.",
    "Please tell me what happened last night.",
    "This is the best news I have heard all year.",
    "I am not sure that is a good idea.",
    "They finally finished the project on time.",
    "Could you open the window for me?",
    "Nobody told me about the meeting.",
    "The music was far too loud.",
    "Let us talk about it tomorrow.",
    "I really enjoyed the book you gave me.",
)

MANDARIN_SENTENCES = (
    "今天天气很好。",
    "我没想到会在这里见到你。",
    "火车到站以前我们必须离开。",
    "请告诉我昨天晚上发生了什么。",
    "这是我今年听到最好的消息。",
    "我不确定这是个好主意。",
    "他们终于按时完成了项目。",
    "你可以帮我打开窗户吗？",
    "没有人告诉我开会的事。",
    "音乐的声音太大了。",
    "我们明天再谈吧。",
    "我很喜欢你送我的那本书。",
)

GERMAN_SENTENCES = (
    "Das Wetter ist heute wunderschön.",
    "Ich habe nicht erwartet, dich hier zu sehen.",
    "Wir müssen gehen, bevor der Zug ankommt.",
    "Bitte erzähl mir, was gestern Abend passiert ist.",
    "Das ist die beste Nachricht des ganzen Jahres.",
    "Ich bin nicht sicher, ob das eine gute Idee ist.",
    "Sie haben das Projekt endlich pünktlich beendet.",
    "Könntest du bitte das Fenster öffnen?",
    "Niemand hat mir von der Besprechung erzählt.",
    "Die Musik war viel zu laut.",
    "Lass uns morgen darüber sprechen.",
    "Das Buch, das du mir geschenkt hast, hat mir gefallen.",
)


def _english_prosody(arousal, valence, dominance):
    return {
        "rate": 110 + 28 * (arousal - 1),
        "pitch": 15 + 11 * (arousal - 1),
        "pitch_range": 5 + 14 * (valence - 1),
        "volume": 60 + 15 * (dominance - 1),
    }


def _mandarin_prosody(arousal, valence, dominance):
    # Same cues, different mapping: a higher, flatter pitch cue, a speaking
    # rate that falls (not rises) with arousal, and a reversed pitch-range cue
    # for valence.
    return {
        "rate": 230 - 18 * (arousal - 1),
        "pitch": 40 + 8 * (arousal - 1),
        "pitch_range": 90 - 12 * (valence - 1),
        "volume": 60 + 15 * (dominance - 1),
    }


def _german_prosody(arousal, valence, dominance):
    # A third mapping: pitch falls with arousal, loudness carries it too,
    # and a narrow, slow voice is the calm end.
    return {
        "rate": 120 + 12 * (arousal - 1),
        "pitch": 85 - 10 * (arousal - 1),
        "pitch_range": 40 + 8 * (valence - 1),
        "volume": 50 + 10 * (arousal - 1) + 8 * (dominance - 1),
    }


#: language -> (sentences, eSpeak NG voices, prosody mapping, file prefix)
LANGUAGES = {
    "english": (
        ENGLISH_SENTENCES,
        ("en-us", "en", "en-us+f4"),
        _english_prosody,
        "MSP-PODCAST",
    ),
    "mandarin": (
        MANDARIN_SENTENCES,
        ("cmn", "cmn+f4"),
        _mandarin_prosody,
        "BIIC-PODCAST",
    ),
    "german": (
        GERMAN_SENTENCES,
        ("de", "de+m3"),  # no voice variant shared with the English corpus
        _german_prosody,
        "DE-PODCAST",
    ),
}


def tone_utterance(prosody, voice_index, sample_rate, rng):
    """Synthesise a harmonic tone sequence that carries eSpeak-like prosody.

    Each "syllable" is a harmonic tone with a raised-cosine envelope and a
    pitch glide, followed by a short pause. The base pitch follows
    ``pitch``, the syllable rate ``rate``, the pitch movement between and
    within syllables ``pitch_range``, and the amplitude ``volume`` (eSpeak
    NG's parameter ranges); the voice sets the register and the timbre (how
    fast the harmonics fall off). No library synthesises such a signal from
    these four parameters, hence this short generator.

    Arguments
    ---------
    prosody : dict
        ``rate`` (words per minute), ``pitch`` (0-100), ``pitch_range``
        (0-100) and ``volume`` (0-200), as the languages' mappings give them.
    voice_index : int
        Which voice (register and timbre).
    sample_rate : int
        Sample rate of the result.
    rng : random.Random
        Source of the syllable count and the pitch movement.

    Returns
    -------
    numpy.ndarray
        float32 samples in [-1, 1].

    Example
    -------
    >>> quiet = tone_utterance({"rate": 150, "pitch": 30, "pitch_range": 20,
    ...     "volume": 40}, 0, 16000, random.Random(0))
    >>> loud = tone_utterance({"rate": 150, "pitch": 30, "pitch_range": 20,
    ...     "volume": 160}, 0, 16000, random.Random(0))
    >>> quiet.dtype, bool(np.abs(loud).max() > 3 * np.abs(quiet).max())
    (dtype('float32'), True)
    """
    syllables_per_second = max(1.0, prosody["rate"] / 60 * 1.5)
    base = (90 + 2.2 * prosody["pitch"]) * (1.0, 0.8, 1.6)[voice_index % 3]
    spread = prosody["pitch_range"] / 100  # octaves of pitch movement
    amplitude = min(0.9, 0.3 * prosody["volume"] / 100)
    rolloff = 1.0 + 0.5 * (voice_index % 3)
    harmonics = np.arange(1, 7)
    weights = harmonics**-rolloff
    weights /= weights.sum()
    pieces = []
    for _ in range(rng.randint(4, 6)):
        length = int(sample_rate * 0.75 / syllables_per_second)
        start = base * 2 ** (spread * rng.uniform(-0.5, 0.5))
        end = start * 2 ** (spread * rng.uniform(-0.25, 0.25))
        f0 = np.clip(np.linspace(start, end, length), 50, 600)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        tone = np.sin(np.outer(phase, harmonics)) @ weights
        envelope = np.sin(np.pi * np.arange(length) / length) ** 2
        pieces.append(amplitude * envelope * tone / np.abs(weights).sum())
        pieces.append(np.zeros(int(sample_rate * 0.25 / syllables_per_second)))
    return np.concatenate(pieces).astype(np.float32)


def _table_format(layout, path):
    """``(format, delimiter)`` of a table the layout describes."""
    if layout.format_of(path) == "json":
        return "json", None
    if layout.delimiter:
        return "csv", layout.delimiter
    return "csv", "\t" if path.lower().endswith(".tsv") else ","


def _write_table(path, layout, rows):
    """Write one label table (CSV / TSV with a header, or JSON lines)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    table_format, delimiter = _table_format(layout, path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if table_format == "json":
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        fields = list(rows[0]) if rows else layout.required_columns()
        writer = csv.DictWriter(handle, fieldnames=fields, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def write_demo_corpus(
    folder,
    language,
    layout,
    sizes=(48, 16, 16),
    seed=0,
    label_range=(1.0, 7.0),
    sample_rate=16000,
    speech=True,
    audio_format="wav",
    speaker_folders=False,
    absolute_paths=False,
    speaker_column="SpkrID",
):
    """Write a small emotional corpus in a corpus layout.

    Arguments
    ---------
    folder : str
        Corpus folder to create (audio folder and label tables of
        ``layout``).
    language : str
        ``"english"``, ``"mandarin"`` or ``"german"``.
    layout : speechbrain_lora_ser.data.corpus.CorpusLayout
        Where the audio and labels go, the table format and delimiter (a
        ``.tsv`` table is tab-delimited unless the layout declares another
        delimiter), one table or a table per partition, and how the columns
        and partitions are named (the first spelling of each is written).
    sizes : tuple of int
        Number of train, development and test utterances.
    seed : int
        Seed of the attribute draws.
    label_range : tuple of float
        Scale of the written labels (the prosody spans the whole scale).
    sample_rate : int
        Sample rate of the written audio.
    speech : bool
        eSpeak NG speech (True), or harmonic tone sequences with the same
        prosody (False: no eSpeak NG needed, milliseconds per utterance).
    audio_format : str
        ``"wav"`` or ``"flac"``.
    speaker_folders : bool
        Put each file in a ``<speaker>/`` sub-folder of the audio folder
        (``spk0/utt_0000.flac``...; base names repeat between speakers).
    absolute_paths : bool
        List audio files by absolute path (else relative to the audio
        folder).
    speaker_column : str
        Column of the speaker (voice) of each utterance.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.data.corpus import CorpusLayout
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "mandarin", layout, (2, 1, 1))
    >>> sorted(os.listdir(os.path.join(folder, "Audios")))[0]
    'BIIC-PODCAST_0000_0000.wav'

    The corpus of the "Adding a language" example: a TSV per partition,
    FLAC at 22.05 kHz under ``clips/<speaker>/``, labels on [-1, 1]:

    >>> german = CorpusLayout(
    ...     partitions={"train": "train", "valid": "dev", "test": "test"},
    ...     audio_folder="clips", label_files="metadata/{partition}.tsv",
    ...     id_column="path", attribute_columns={"arousal": "arousal",
    ...         "valence": "valence", "dominance": "dominance"})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "german", german, (4, 2, 2),
    ...     label_range=(-1.0, 1.0), sample_rate=22050, speech=False,
    ...     audio_format="flac", speaker_folders=True, speaker_column="speaker")
    >>> sorted(os.listdir(os.path.join(folder, "metadata")))
    ['dev.tsv', 'test.tsv', 'train.tsv']
    >>> with open(os.path.join(folder, "metadata", "dev.tsv")) as f:
    ...     f.readline().split()
    ['path', 'arousal', 'valence', 'dominance', 'speaker']
    """
    if audio_format not in ("wav", "flac"):
        raise ValueError(f"audio_format must be 'wav' or 'flac', not {audio_format!r}")
    prefix = LANGUAGES[language][3]
    rng = random.Random(seed)
    speaker = Speaker() if speech else None
    audio_folder = os.path.join(folder, layout.audio_folder)
    os.makedirs(audio_folder, exist_ok=True)
    partitions = [layout.partitions[split][0] for split in ("train", "valid", "test")]
    tables = {partition: [] for partition in partitions}
    per_speaker = {}  # files written so far per speaker folder
    # the partition of each utterance, in the order they are written
    order = [p for p, n in zip(partitions, sizes, strict=True) for _ in range(n)]
    for index, partition in enumerate(order):
        values, voice_index, wav = _utterance(rng, language, speaker, sample_rate)
        speaker_id = f"spk{voice_index}"
        if speaker_folders:
            number = per_speaker.get(speaker_id, 0)
            per_speaker[speaker_id] = number + 1
            relative = os.path.join(speaker_id, f"utt_{number:04d}.{audio_format}")
        else:
            relative = f"{prefix}_{index // 100:04d}_{index % 100:04d}.{audio_format}"
        path = os.path.join(audio_folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        soundfile.write(path, wav, sample_rate)
        listed = os.path.abspath(path) if absolute_paths else relative
        row = _label_row(layout, listed, f"{prefix}-{index:05d}", values, label_range)
        row[speaker_column] = speaker_id
        tables[partition].append(row)
    _write_label_tables(folder, layout, tables)
    return folder


def _utterance(rng, language, speaker, sample_rate):
    """Draw one utterance's attributes and voice, and synthesise it.

    Arousal and valence are uniform on [1, 7]; dominance follows arousal.
    The language's mapping turns them into prosody, spoken by eSpeak NG
    (``speaker``) or carried by a tone sequence (``speaker`` None).

    Returns
    -------
    values : dict
        ``{attribute: value on [1, 7]}``.
    voice_index : int
        Which of the language's voices.
    wav : numpy.ndarray
        The samples at ``sample_rate``.

    Example
    -------
    >>> values, voice, wav = _utterance(random.Random(0), "english", None, 16000)
    >>> list(values), wav.dtype
    (['arousal', 'valence', 'dominance'], dtype('float32'))
    """
    sentences, voices, prosody, _ = LANGUAGES[language]
    arousal = rng.uniform(1, 7)
    valence = rng.uniform(1, 7)
    dominance = min(7.0, max(1.0, 0.7 * arousal + 0.3 * rng.uniform(1, 7)))
    voice_index = rng.randrange(len(voices))
    cues = prosody(arousal, valence, dominance)
    values = {"arousal": arousal, "valence": valence, "dominance": dominance}
    if speaker is None:
        return values, voice_index, tone_utterance(cues, voice_index, sample_rate, rng)
    wav, rate = speaker.say(
        rng.choice(sentences),
        voice=voices[voice_index],
        **{k: int(v) for k, v in cues.items()},
    )
    if rate != sample_rate:
        wav = torchaudio.functional.resample(
            torch.from_numpy(wav), rate, sample_rate
        ).numpy()
    return values, voice_index, wav


def _label_row(layout, listed, utterance_id, values, label_range):
    """Return an utterance's row of the label table: its file, id and labels.

    The values on [1, 7] are written on ``label_range``.

    Example
    -------
    >>> from speechbrain_lora_ser.data.corpus import CorpusLayout
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> values = {"arousal": 7.0, "valence": 1.0, "dominance": 4.0}
    >>> row = _label_row(layout, "a.wav", "A-00000", values, (-1.0, 1.0))
    >>> [row[layout.attribute_columns[name]] for name in values]
    [1.0, -1.0, 0.0]
    """
    low, high = label_range
    row = {layout.id_column: listed.replace(os.sep, "/")}
    if layout.utterance_id_column:
        row[layout.utterance_id_column] = utterance_id
    for name, column in layout.attribute_columns.items():
        on_scale = low + (values[name] - 1) / 6 * (high - low)
        row[column] = round(on_scale, 4)
    return row


def _write_label_tables(folder, layout, tables):
    """Write the label tables: one per partition, or one with a partition column.

    Arguments
    ---------
    folder : str
        The corpus folder.
    layout : speechbrain_lora_ser.data.corpus.CorpusLayout
        Names the table files (and the partition column of a single table).
    tables : dict
        ``{partition: [row]}``.
    """
    if layout.table_per_partition():
        for partition, rows in tables.items():
            name = layout.label_files[0].replace("{partition}", partition)
            _write_table(os.path.join(folder, name), layout, rows)
        return
    rows = [
        dict(row, **{layout.partition_column: partition})
        for partition, partition_rows in tables.items()
        for row in partition_rows
    ]
    _write_table(os.path.join(folder, layout.label_files[0]), layout, rows)
