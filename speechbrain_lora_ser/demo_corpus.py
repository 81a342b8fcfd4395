"""Small bilingual emotional corpora, written in the real corpus layouts.

Each utterance is real synthetic speech (eSpeak NG) whose arousal, valence
and dominance are carried by prosody: speaking rate and pitch follow arousal,
pitch range follows valence, and dominance follows arousal and loudness. The
English corpus (MSP-Podcast layout) and the Mandarin one (BIIC-Podcast layout)
map the attributes to prosody differently, so a model trained on one language
transfers only partly to the other, which is what LoRA adaptation addresses.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import os
import random

import soundfile
import torch
import torchaudio.functional

from speechbrain_lora_ser.data import BIIC_PODCAST, MSP_PODCAST
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


LANGUAGES = {
    "english": (
        MSP_PODCAST,
        ENGLISH_SENTENCES,
        ("en-us", "en", "en-us+f3"),
        _english_prosody,
        "MSP-PODCAST",
    ),
    "mandarin": (
        BIIC_PODCAST,
        MANDARIN_SENTENCES,
        ("cmn", "cmn+f3"),
        _mandarin_prosody,
        "BIIC-PODCAST",
    ),
}


def write_demo_corpus(folder, language, sizes=(48, 16, 16), seed=0, sample_rate=16000):
    """Write a small emotional corpus in its corpus's real layout.

    Arguments
    ---------
    folder : str
        Corpus folder to create (``Audios/``, ``Labels/labels_consensus.csv``).
    language : str
        ``"english"`` (MSP-Podcast layout) or ``"mandarin"`` (BIIC-Podcast).
    sizes : tuple of int
        Number of train, development and test utterances.
    seed : int
        Seed of the attribute draws.
    sample_rate : int
        Sample rate of the written WAV files.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "mandarin", (2, 1, 1))
    >>> sorted(os.listdir(os.path.join(folder, "Audios")))[0]
    'BIIC-PODCAST_0000_0000.wav'
    """
    layout, sentences, voices, prosody, prefix = LANGUAGES[language]
    rng = random.Random(seed)
    speaker = Speaker()
    audio_folder = os.path.join(folder, layout.audio_folder)
    os.makedirs(audio_folder, exist_ok=True)
    os.makedirs(os.path.join(folder, "Labels"), exist_ok=True)
    partitions = [layout.partitions[split][0] for split in ("train", "valid", "test")]
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
            rows.append(
                {
                    "FileName": file_name,
                    "EmoClass": "N",
                    "EmoAct": f"{arousal:.4f}",
                    "EmoVal": f"{valence:.4f}",
                    "EmoDom": f"{dominance:.4f}",
                    "SpkrID": str(voice_index),
                    "Gender": "Female" if "f" in voices[voice_index] else "Male",
                    "Split_Set": partition,
                }
            )
            index += 1
    label_file = os.path.join(folder, layout.label_files[0])
    with open(label_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder
