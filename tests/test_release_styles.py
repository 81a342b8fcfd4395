"""Any corpus enters a recipe: release styles, wrong delimiters, manifests.

Each test writes a small corpus the way some release ships it and checks
that ``CorpusLayout`` + ``prepare_corpus`` turn it into the manifests a
recipe reads, or that a hand-written manifest folder is checked like a
prepared one.
"""

import csv
import dataclasses
import json
import os

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from speechbrain_lora_ser.data.corpus import CorpusLayout, prepare_corpus
from speechbrain_lora_ser.data.manifests import (
    ENTRY_KEYS,
    CorpusError,
    check_manifests,
    read_manifests,
    write_manifests,
)
from speechbrain_lora_ser.demo import recipe_layouts
from speechbrain_lora_ser.modeling.labels import LabelScaler
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

from conftest import recipe_datasets

GERMAN = CorpusLayout(
    partitions={"train": "train", "valid": "dev", "test": "test"},
    audio_folder="clips",
    label_files="metadata/{partition}.tsv",
    id_column="path",
    attribute_columns={
        "arousal": "arousal",
        "valence": "valence",
        "dominance": "dominance",
    },
)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_table(path, delimiter):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def assert_labels_match(manifest, table_rows, id_of, columns):
    """Every manifest entry carries its table row's labels (same scale)."""
    rows = {id_of(row): row for row in table_rows}
    assert set(manifest) == set(rows)
    for utt_id, entry in manifest.items():
        for name, column in columns.items():
            assert entry[name] == pytest.approx(float(rows[utt_id][column]))


def test_msp_podcast_style_one_table_with_a_partition_column(tmp_path):
    layout = recipe_layouts()["MSP-Podcast"]
    folder = write_demo_corpus(
        str(tmp_path / "MSP"), "english", layout, (6, 3, 3), speech=False
    )
    paths = prepare_corpus(folder, str(tmp_path / "m"), layout)
    rows = read_table(os.path.join(folder, "Labels", "labels_consensus.csv"), ",")
    for split, partition in (("train", "Train"), ("valid", "Development")):
        assert_labels_match(
            load(paths[split]),
            [r for r in rows if r["Split_Set"] == partition],
            lambda r: r["FileName"][: -len(".wav")],
            layout.attribute_columns,
        )
    for entry in load(paths["test"]).values():
        assert entry["duration"] == pytest.approx(soundfile.info(entry["wav"]).duration)


def test_tsv_table_per_partition_flac_22khz_in_speaker_folders(tmp_path):
    """The issue's corpus: metadata/{train,dev,test}.tsv, no partition column,
    FLAC at 22.05 kHz under clips/<speaker>/, labels on [-1, 1]; real speech."""
    folder = write_demo_corpus(
        str(tmp_path / "DE"),
        "german",
        GERMAN,
        (6, 3, 3),
        seed=4,
        label_range=(-1.0, 1.0),
        sample_rate=22050,
        audio_format="flac",
        speaker_folders=True,
        speaker_column="speaker",
    )
    train_table = os.path.join(folder, "metadata", "train.tsv")
    with open(train_table, encoding="utf-8") as handle:
        assert handle.readline().rstrip("\n").split("\t") == [
            "path",
            "arousal",
            "valence",
            "dominance",
            "speaker",
        ]
    paths = prepare_corpus(folder, str(tmp_path / "m"), GERMAN, label_range=(-1, 1))
    assert list(paths) == ["train", "valid", "test"]
    manifests = {split: load(path) for split, path in paths.items()}
    for split, table in (("train", "train"), ("valid", "dev"), ("test", "test")):
        assert_labels_match(
            manifests[split],
            read_table(os.path.join(folder, "metadata", f"{table}.tsv"), "\t"),
            lambda r: r["path"][: -len(".flac")],
            GERMAN.attribute_columns,
        )
    # IDs are the path under clips/ without extension: unique although the
    # speakers' files share base names
    ids = [utt_id for entries in manifests.values() for utt_id in entries]
    assert len(set(ids)) == len(ids) == 12
    base_names = [utt_id.split("/")[1] for utt_id in ids]
    assert len(set(base_names)) < len(base_names)
    assert all(utt_id.startswith("spk") for utt_id in ids)
    entry = manifests["train"][ids[0]]
    assert entry["wav"] == os.path.join(folder, "clips", ids[0] + ".flac")
    assert soundfile.info(entry["wav"]).samplerate == 22050
    labels = [e["valence"] for entries in manifests.values() for e in entries.values()]
    assert min(labels) < 0 < max(labels)
    # the recipe's datasets read it as 16 kHz mono
    test_set = recipe_datasets(tmp_path / "m", LabelScaler(-1.0, 1.0))["test"]
    item = test_set[0]
    duration = manifests["test"][item["id"]]["duration"]
    assert item["sig"].shape[0] == pytest.approx(duration * 16000, abs=2)


def test_hub_audiofolder_export_paths_relative_to_each_partition(tmp_path):
    """A dataset-hub ``audiofolder`` export: data/<split>/metadata.csv names
    its files relative to data/<split>/; OGG Vorbis, 48 kHz stereo, labels on
    0-10, and the same relative name in two partitions."""
    layout = CorpusLayout(
        partitions={"train": "train", "valid": "validation", "test": "test"},
        audio_folder="data/{partition}",
        label_files="data/{partition}/metadata.csv",
        id_column="file_name",
        attribute_columns={
            "arousal": "emo_arousal",
            "valence": "emo_valence",
            "dominance": "emo_dominance",
        },
    )
    folder = tmp_path / "hub"
    generator = np.random.default_rng(0)
    rows = {}
    for partition, count in (("train", 4), ("validation", 2), ("test", 2)):
        rows[partition] = []
        for i in range(count):
            name = f"spk{i % 2}/a{i:03d}.ogg"
            path = folder / "data" / partition / name
            path.parent.mkdir(parents=True, exist_ok=True)
            time = np.arange(int(48000 * 1.5)) / 48000
            tone = 0.3 * np.sin(2 * np.pi * (120 + 40 * i) * time)
            soundfile.write(path, np.stack([tone, tone], axis=1), 48000, "VORBIS")
            labels = generator.uniform(0, 10, 3).round(2)
            rows[partition].append([name, *labels, f"spk{i % 2}"])
        with open(folder / "data" / partition / "metadata.csv", "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["file_name", "emo_arousal", "emo_valence", "emo_dominance", "id"]
            )
            writer.writerows(rows[partition])
    paths = prepare_corpus(
        str(folder), str(tmp_path / "m"), layout, label_range=(0, 10)
    )
    manifests = {split: load(path) for split, path in paths.items()}
    # spk0/a000.ogg is in all three partitions: three utterances
    assert sorted(manifests["test"]) == ["test/spk0/a000", "test/spk1/a001"]
    assert "train/spk0/a000" in manifests["train"]
    assert "validation/spk0/a000" in manifests["valid"]
    for split, partition in (("train", "train"), ("valid", "validation")):
        for name, arousal, valence, dominance, _ in rows[partition]:
            entry = manifests[split][f"{partition}/{name[: -len('.ogg')]}"]
            assert entry["wav"] == str(folder / "data" / partition / name)
            assert (entry["arousal"], entry["valence"], entry["dominance"]) == (
                pytest.approx(arousal),
                pytest.approx(valence),
                pytest.approx(dominance),
            )
    # the recipe's datasets read it as 16 kHz mono
    for recipe in ("MSP-Podcast", "BIIC-Podcast"):
        datasets = recipe_datasets(tmp_path / "m", LabelScaler(0.0, 10.0), recipe)
        item = datasets["test"][0]
        assert item["sig"].shape == (pytest.approx(1.5 * 16000, abs=2),)
        assert 0.0 <= float(item["labels"].min()) <= 1.0


def test_json_lines_with_absolute_paths(tmp_path):
    layout = CorpusLayout(
        partitions={"train": "train", "valid": "validation", "test": "test"},
        audio_folder="audio",
        label_files="labels.jsonl",
        id_column="audio",
        partition_column="split",
        attribute_columns={"arousal": "A", "valence": "V", "dominance": "D"},
    )
    folder = write_demo_corpus(
        str(tmp_path / "hub"),
        "english",
        layout,
        (4, 2, 2),
        label_range=(1.0, 5.0),
        speech=False,
        absolute_paths=True,
    )
    # one more test utterance whose file lies outside the audio folder
    elsewhere = tmp_path / "elsewhere" / "extra.wav"
    elsewhere.parent.mkdir()
    soundfile.write(elsewhere, np.zeros(8000, np.float32), 16000)
    with open(os.path.join(folder, "labels.jsonl"), "a", encoding="utf-8") as handle:
        record = {"audio": str(elsewhere), "A": None, "V": None, "D": None}
        record["split"] = "test"  # unlabeled: predicted only
        handle.write(json.dumps(record) + "\n")
    with open(os.path.join(folder, "labels.jsonl"), encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    assert all(os.path.isabs(r["audio"]) for r in records)
    paths = prepare_corpus(folder, str(tmp_path / "m"), layout, label_range=(1, 5))
    train = load(paths["train"])
    assert sorted(train) == [
        f"MSP-PODCAST_0000_{i:04d}" for i in range(4)
    ]  # inside the audio folder: relative to it
    for entry in train.values():
        record = next(r for r in records if r["audio"] == entry["wav"])
        assert entry["arousal"] == record["A"] and entry["valence"] == record["V"]
    test = load(paths["test"])
    # outside it: the absolute path without extension
    extra = test[str(elsewhere)[: -len(".wav")]]
    assert extra["valence"] is None
    assert extra["wav"] == str(elsewhere)


@pytest.mark.parametrize("delimiter", [None, ";"])
def test_semicolon_csv_sniffed_or_declared(delimiter, tmp_path):
    layout = CorpusLayout(
        partitions={"train": "Training", "valid": "Validierung", "test": "Test"},
        audio_folder="Audio",
        label_files="Bewertungen.csv",
        id_column="Datei",
        partition_column="Teil",
        attribute_columns={
            "arousal": "Erregung",
            "valence": "Valenz",
            "dominance": "Dominanz",
        },
        delimiter=delimiter,
    )
    writer_layout = dataclasses.replace(layout, delimiter=";")
    folder = write_demo_corpus(
        str(tmp_path / "c"),
        "german",
        writer_layout,
        (4, 2, 2),
        label_range=(0.0, 100.0),
        speech=False,
    )
    with open(os.path.join(folder, "Bewertungen.csv"), encoding="utf-8") as handle:
        assert handle.readline().startswith("Datei;Erregung;Valenz;Dominanz;")
    paths = prepare_corpus(folder, str(tmp_path / "m"), layout, label_range=(0, 100))
    rows = read_table(os.path.join(folder, "Bewertungen.csv"), ";")
    assert_labels_match(
        load(paths["valid"]),
        [r for r in rows if r["Teil"] == "Validierung"],
        lambda r: r["Datei"][: -len(".wav")],
        layout.attribute_columns,
    )
    values = [e["arousal"] for e in load(paths["train"]).values()]
    assert max(values) > 7  # the scale is 0-100, not 1-7


def test_bad_rows_of_a_delimited_table_say_what_is_wrong(tmp_path):
    layout = CorpusLayout(
        partitions={"train": "train", "valid": "dev", "test": "test"},
        audio_folder="",
        label_files="labels.csv",
        id_column="file",
        partition_column="set",
        attribute_columns={"arousal": "a", "valence": "v", "dominance": "d"},
    )
    rows = []
    for index, partition in enumerate(["train", "train", "dev", "test"]):
        soundfile.write(tmp_path / f"{index}.wav", np.zeros(800, np.float32), 16000)
        rows.append(f"{index}.wav;0.5;0.5;0.5;{partition}")
    rows[1] = "1.wav;0,5;0.5;0.5;train"  # a decimal comma
    rows[3] = "3.wav;0.5;0.5;0.5;test;extra"  # one field too many
    _write(str(tmp_path / "labels.csv"), "file;a;v;d;set\n" + "\n".join(rows))
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(tmp_path), str(tmp_path / "m"), layout, (0, 1))
    assert error.value.problems == [
        (
            f"{tmp_path / 'labels.csv'}:3 [1]",
            "arousal label '0,5' is not a number (write decimals with a point)",
        ),
        (
            f"{tmp_path / 'labels.csv'}:5 [3]",
            "row has 6 field(s), the header has 5 (semicolon-delimited)",
        ),
    ]
    assert "--skip_invalid" in str(error.value)
    paths = prepare_corpus(
        str(tmp_path), str(tmp_path / "m"), layout, (0, 1), skip_invalid=True
    )
    assert [list(load(path)) for path in paths.values()] == [["0"], ["2"], []]


def test_a_json_array_of_records_is_read_like_json_lines(tmp_path):
    layout = CorpusLayout(
        partitions={"train": "train", "valid": "dev", "test": "test"},
        audio_folder="",
        label_files="{partition}.json",
        id_column="file",
        utterance_id_column="id",
        attribute_columns={"arousal": "a", "valence": "v", "dominance": "d"},
    )
    for partition in ("train", "dev", "test"):
        soundfile.write(tmp_path / f"{partition}.wav", np.zeros(800, np.float32), 16000)
        record = {"id": f"{partition}-1", "file": f"{partition}.wav"}
        record.update(a=1, v=2, d=3)
        _write(str(tmp_path / f"{partition}.json"), json.dumps([record]))
    paths = prepare_corpus(str(tmp_path), str(tmp_path / "m"), layout, (1, 5))
    assert load(paths["valid"]) == {
        "dev-1": {
            "wav": str(tmp_path / "dev.wav"),
            "duration": 0.05,
            "arousal": 1,
            "valence": 2,
            "dominance": 3,
        }
    }


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.mark.parametrize(
    "header, declared, message",
    [
        (
            "path\tarousal\tvalence\tdominance\tspeaker",
            ",",
            "the header looks tab-delimited, but the layout declares delimiter ',' "
            "(comma): declare delimiter='\\t' in its CorpusLayout",
        ),
        (
            "path;arousal;valence;dominance;speaker",
            ",",
            "the header looks semicolon-delimited, but the layout declares "
            "delimiter ',' (comma): declare delimiter=';' in its CorpusLayout",
        ),
        (
            "path\tarousal\tvalence\tdominance\tspeaker",
            None,
            "missing columns ['Arousal', 'Valence']; the header has columns "
            "['path', 'arousal', 'valence', 'dominance', 'speaker'], read with "
            "delimiter '\\t'",
        ),
    ],
)
def test_a_wrong_delimiter_or_column_says_what_the_file_has(
    header, declared, message, tmp_path
):
    for name in ("train", "dev", "test"):
        _write(str(tmp_path / "metadata" / f"{name}.tsv"), f"{header}\na.flac\n")
    columns = dict(GERMAN.attribute_columns)
    if declared is None:
        columns.update(arousal="Arousal", valence="Valence")
    layout = dataclasses.replace(GERMAN, delimiter=declared, attribute_columns=columns)
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(tmp_path), str(tmp_path / "m"), layout, label_range=(1, 3))
    text = str(error.value)
    assert message in text
    assert str(tmp_path / "metadata" / "train.tsv") in text
    assert "--skip_invalid" not in text
    assert not (tmp_path / "m").exists()


# The manifest route: a folder of SpeechBrain JSON manifests written by hand.


@pytest.fixture
def hand_written(tmp_path):
    """A corpus and manifests written by hand: absolute and {data_root} paths,
    an unlabeled extra partition, labels on [-1, 1]."""
    data = tmp_path / "data"
    (data / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    manifests = {"train": {}, "valid": {}, "test": {}, "blind": {}}
    for index, partition in enumerate(["train"] * 4 + ["valid", "test", "blind"]):
        name = f"u{index}"
        seconds = 0.5 + 0.25 * index
        wav = 0.1 * rng.standard_normal(int(16000 * seconds)).astype(np.float32)
        soundfile.write(data / "wav" / f"{name}.wav", wav, 16000)
        labels = [None] * 3 if partition == "blind" else list(rng.uniform(-1, 1, 3))
        manifests[partition][name] = {
            # absolute, or SpeechBrain's {data_root} convention
            "wav": f"{{data_root}}/wav/{name}.wav"
            if index % 2
            else str(data / "wav" / f"{name}.wav"),
            "duration": seconds,
            "arousal": labels[0],
            "valence": labels[1],
            "dominance": labels[2],
            "speaker": f"s{index % 2}",
        }
    folder = tmp_path / "manifests"
    folder.mkdir()
    for partition, entries in manifests.items():
        with open(folder / f"{partition}.json", "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=2)
    return folder, data, manifests


def rewrite(folder, partition, change):
    path = folder / f"{partition}.json"
    entries = load(path)
    change(entries)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(entries, handle)


def test_hand_written_manifests_pass_the_checks(hand_written):
    folder, data, _ = hand_written
    paths = check_manifests(str(folder), (-1.0, 1.0), data_root=str(data))
    assert list(paths) == ["train", "valid", "test", "blind"]
    assert read_manifests(str(folder)) == paths
    # a {data_root} path without the data root is reported, not guessed
    with pytest.raises(CorpusError) as error:
        check_manifests(str(folder), (-1.0, 1.0))
    assert f"{folder / 'train.json'} [u1]: wav path '{{data_root}}/wav/u1.wav' " in (
        str(error.value)
    )


def _set(partition, utt_id, **changes):
    def change(entries):
        entries[utt_id].update(changes)

    return partition, change


BAD_MANIFESTS = {
    "missing audio": (
        ("train", "u0"),
        lambda folder, data: os.remove(data / "wav" / "u0.wav"),
        "audio file is missing: {data}/wav/u0.wav",
    ),
    "unreadable audio": (
        ("train", "u1"),
        lambda folder, data: (data / "wav" / "u1.wav").write_bytes(b"garbage"),
        "audio file is unreadable",
    ),
    "label outside the range": (
        ("train", "u2"),
        lambda folder, data: rewrite(folder, *_set("train", "u2", valence=1.5)),
        "valence label 1.5 is outside [-1.0, 1.0]",
    ),
    "label not a number": (
        ("test", "u5"),
        lambda folder, data: rewrite(folder, *_set("test", "u5", arousal="high")),
        "arousal label 'high' is not a number",
    ),
    "labels missing in train": (
        ("train", "u3"),
        lambda folder, data: rewrite(
            folder, *_set("train", "u3", arousal=None, valence=None, dominance=None)
        ),
        "labels are missing (the train partition must be labeled)",
    ),
    "duplicate ID": (
        ("blind", "u0"),
        lambda folder, data: rewrite(
            folder, "blind", lambda e: e.update(u0=load(folder / "train.json")["u0"])
        ),
        "duplicate ID u0 (also in train)",
    ),
    "missing key": (
        ("test", "u5"),
        lambda folder, data: rewrite(folder, "test", lambda e: e["u5"].pop("wav")),
        "missing keys ['wav']",
    ),
    # a hand-written manifest is used as it is: the recipes' sorting and
    # dynamic batching read every entry's duration
    "missing duration": (
        ("train", "u1"),
        lambda folder, data: rewrite(
            folder, "train", lambda e: e["u1"].pop("duration")
        ),
        "missing keys ['duration']",
    ),
    "relative path": (
        ("train", "u0"),
        lambda folder, data: rewrite(folder, *_set("train", "u0", wav="wav/u0.wav")),
        "wav path 'wav/u0.wav' is relative: write it absolute or as {data_root}/...",
    ),
    "wrong duration": (
        ("train", "u2"),
        lambda folder, data: rewrite(folder, *_set("train", "u2", duration=3.0)),
        "duration 3.0 s does not match the audio (1.000 s)",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_MANIFESTS))
def test_a_bad_manifest_entry_is_named_by_its_manifest_and_id(kind, hand_written):
    folder, data, _ = hand_written
    (partition, utt_id), damage, message = BAD_MANIFESTS[kind]
    damage(folder, data)
    with pytest.raises(CorpusError) as error:
        check_manifests(str(folder), (-1.0, 1.0), data_root=str(data))
    [(where, problem)] = error.value.problems
    assert where == f"{folder / partition}.json [{utt_id}]"
    assert message.replace("{data}", str(data)) in problem
    assert "--skip_invalid" not in str(error.value)


def test_a_missing_manifest_folder_says_how_to_give_one(tmp_path):
    with pytest.raises(CorpusError) as error:
        check_manifests(str(tmp_path / "nowhere"))
    assert error.value.problems == [
        (str(tmp_path / "nowhere"), "manifest folder does not exist")
    ]
    assert "--cross_manifest_folder" in str(error.value)
    assert "--skip_invalid" not in str(error.value)


def test_every_bad_manifest_entry_and_missing_partition_is_listed_at_once(
    hand_written,
):
    folder, data, _ = hand_written
    os.remove(data / "wav" / "u0.wav")
    rewrite(folder, *_set("train", "u2", dominance=-3))
    os.remove(folder / "valid.json")
    with pytest.raises(CorpusError) as error:
        check_manifests(str(folder), (-1.0, 1.0), data_root=str(data))
    wheres = [where for where, _ in error.value.problems]
    assert wheres == [
        f"{folder / 'train.json'} [u0]",
        f"{folder / 'train.json'} [u2]",
        str(folder / "valid.json"),
    ]
    assert "the valid partition is missing" in str(error.value)


def test_a_plain_prepare_function_gets_the_same_checks(hand_written, tmp_path):
    """write_manifests: a user's own preparation, for a layout no description fits."""
    _, data, manifests = hand_written
    utterances = {
        partition: {
            utt_id: {
                "wav": str(data / "wav" / f"{utt_id}.wav"),
                **{k: entry[k] for k in ("arousal", "valence", "dominance")},
            }
            for utt_id, entry in entries.items()
        }
        for partition, entries in manifests.items()
    }
    save = tmp_path / "written"
    paths = write_manifests(str(save), utterances, label_range=(-1.0, 1.0))
    assert check_manifests(str(save), (-1.0, 1.0)) == paths
    assert load(paths["train"])["u2"]["duration"] == pytest.approx(1.0)
    # a bad row stops it, naming the utterance, and nothing is replaced
    before = {p: open(path).read() for p, path in paths.items()}
    os.remove(data / "wav" / "u0.wav")
    del utterances["blind"]
    with pytest.raises(CorpusError, match=r"train \[u0\]: audio file is missing"):
        write_manifests(str(save), utterances, label_range=(-1.0, 1.0))
    assert {p: open(path).read() for p, path in paths.items()} == before
    # or leaves it out; the partition this preparation no longer has is gone
    paths = write_manifests(
        str(save), utterances, label_range=(-1.0, 1.0), skip_invalid=True
    )
    assert list(paths) == ["train", "valid", "test"]
    assert sorted(load(paths["train"])) == ["u1", "u2", "u3"]
    assert not (save / "blind.json").exists()


def _pitch_and_level(path):
    wav, rate = soundfile.read(path, dtype="float32")
    frame = 1024
    frames = wav[: len(wav) // frame * frame].reshape(-1, frame)
    loud = frames[np.abs(frames).max(axis=1) > 0.5 * np.abs(wav).max()]
    spectrum = np.abs(np.fft.rfft(loud * np.hanning(frame), axis=1))
    pitch = np.median(np.argmax(spectrum, axis=1) * rate / frame)
    return pitch, np.abs(wav).max(), len(wav) / rate


def test_tone_corpora_carry_the_attributes_without_espeak(tmp_path):
    layout = recipe_layouts()["MSP-Podcast"]
    folder = write_demo_corpus(
        str(tmp_path / "tones"), "english", layout, (40, 0, 0), seed=1, speech=False
    )
    rows = read_table(os.path.join(folder, "Labels", "labels_consensus.csv"), ",")
    measured = np.array(
        [_pitch_and_level(os.path.join(folder, "Audios", r["FileName"])) for r in rows]
    )
    arousal = np.array([float(r["EmoAct"]) for r in rows])
    dominance = np.array([float(r["EmoDom"]) for r in rows])
    speakers = np.array([r["SpkrID"] for r in rows])
    # English: pitch rises with arousal (per voice: voices differ in register),
    # loudness with dominance, and a faster rate makes shorter utterances.
    for voice in set(speakers):
        same = speakers == voice
        assert np.corrcoef(arousal[same], measured[same, 0])[0, 1] > 0.7
    assert np.corrcoef(dominance, measured[:, 1])[0, 1] > 0.8
    assert np.corrcoef(arousal, measured[:, 2])[0, 1] < -0.5


@settings(max_examples=40, deadline=None)
@given(
    missing=st.sets(st.sampled_from(ENTRY_KEYS), min_size=1),
    partition=st.sampled_from(["train", "valid", "test"]),
)
def test_any_missing_keys_of_a_hand_written_entry_are_all_named(
    tmp_path_factory, missing, partition
):
    """Whatever keys an entry lacks (``duration`` included), the run stops
    naming exactly those, with the entry's manifest and ID."""
    root = tmp_path_factory.mktemp("keys")
    soundfile.write(root / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    entry = {"wav": str(root / "a.wav"), "duration": 0.5}
    entry.update(arousal=0.1, valence=0.2, dominance=0.3)
    for name in ("train", "valid", "test"):
        entries = {f"{name}_{i}": dict(entry) for i in range(2)}
        if name == partition:
            for key in missing:
                del entries[f"{name}_1"][key]
        (root / f"{name}.json").write_text(json.dumps(entries))
    with pytest.raises(CorpusError) as error:
        check_manifests(str(root), (-1.0, 1.0))
    named = [p for where, p in error.value.problems if "missing keys" in p]
    assert [where for where, _ in error.value.problems][0] == (
        f"{root / partition}.json [{partition}_1]"
    )
    assert named == [f"missing keys {sorted(missing, key=ENTRY_KEYS.index)} "
                     f"(an entry has {list(ENTRY_KEYS)})"]  # fmt: skip
