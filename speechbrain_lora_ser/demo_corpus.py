"""Small emotional corpora of synthetic speech, written in a recipe's layout.

Each utterance is real synthetic speech (eSpeak NG) whose arousal, valence
and dominance are carried by prosody: speaking rate and pitch follow arousal,
pitch range follows valence, and dominance follows arousal and loudness.
Every language maps the attributes to prosody differently, so a model trained
on one language transfers only partly to another, which is what LoRA
adaptation addresses. The corpus is written in whatever ``CorpusLayout`` the
recipe's prepare module declares (label file, columns, partition names).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import os
import random

import soundfile
import torch
import torchaudio.functional

from speechbrain_lora_ser.speech_synthesis import Speaker

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
        ("en-us", "en", "en-us+f3"),
        _english_prosody,
        "MSP-PODCAST",
    ),
    "mandarin": (
        MANDARIN_SENTENCES,
        ("cmn", "cmn+f3"),
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


def write_demo_corpus(
    folder,
    language,
    layout,
    sizes=(48, 16, 16),
    seed=0,
    label_range=(1.0, 7.0),
    sample_rate=16000,
):
    """Write a small emotional corpus in a recipe's corpus layout.

    Arguments
    ---------
    folder : str
        Corpus folder to create (audio folder and label file of ``layout``).
    language : str
        ``"english"``, ``"mandarin"`` or ``"german"``.
    layout : speechbrain_lora_ser.corpus.CorpusLayout
        Where the audio and labels go and how the columns and partitions are
        named (the first spelling of each is written).
    sizes : tuple of int
        Number of train, development and test utterances.
    seed : int
        Seed of the attribute draws.
    label_range : tuple of float
        Scale of the written labels (the prosody spans the whole scale).
    sample_rate : int
        Sample rate of the written WAV files.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.corpus import CorpusLayout
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "mandarin", layout, (2, 1, 1))
    >>> sorted(os.listdir(os.path.join(folder, "Audios")))[0]
    'BIIC-PODCAST_0000_0000.wav'
    """
    sentences, voices, prosody, prefix = LANGUAGES[language]
    low, high = label_range
    rng = random.Random(seed)
    speaker = Speaker()
    audio_folder = os.path.join(folder, layout.audio_folder)
    os.makedirs(audio_folder, exist_ok=True)
    label_file = os.path.join(folder, layout.label_files[0])
    os.makedirs(os.path.dirname(label_file), exist_ok=True)
    partitions = [layout.partitions[split][0] for split in ("train", "valid", "test")]
    columns = layout.attribute_columns
    rows = []
    index = 0
    for partition, count in zip(partitions, sizes, strict=True):
        for _ in range(count):
            arousal = rng.uniform(1, 7)
            valence = rng.uniform(1, 7)
            dominance = min(7.0, max(1.0, 0.7 * arousal + 0.3 * rng.uniform(1, 7)))
            voice_index = rng.randrange(len(voices))
            wav, rate = speaker.say(
                rng.choice(sentences),
                voice=voices[voice_index],
                **{k: int(v) for k, v in prosody(arousal, valence, dominance).items()},
            )
            wav = torchaudio.functional.resample(
                torch.from_numpy(wav), rate, sample_rate
            )
            file_name = f"{prefix}_{index // 100:04d}_{index % 100:04d}.wav"
            soundfile.write(
                os.path.join(audio_folder, file_name), wav.numpy(), sample_rate
            )
            values = {"arousal": arousal, "valence": valence, "dominance": dominance}
            row = {layout.id_column: file_name}
            for name, column in columns.items():
                on_scale = low + (values[name] - 1) / 6 * (high - low)
                row[column] = f"{on_scale:.4f}"
            row["SpkrID"] = str(voice_index)
            row[layout.partition_column] = partition
            rows.append(row)
            index += 1
    with open(label_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder
