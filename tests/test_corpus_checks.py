"""Corpus checks a careful user relies on: duplicate IDs in every manifest
form, nested label keys, label-range summaries (issue 30, items 11-13)."""

import json

import numpy as np
import pytest
import soundfile

from speechbrain_lora_ser.data.corpus import CorpusLayout, prepare_corpus
from speechbrain_lora_ser.data.manifests import CorpusError, check_manifests

ATTRS = {"arousal": "a", "valence": "v", "dominance": "d"}


def _wav(path, seconds=0.1):
    soundfile.write(path, 0.1 * np.ones(int(16000 * seconds), np.float32), 16000)
    return str(path)


def _entry(wav, value=4.0):
    return {"wav": wav, "duration": 0.1, **{k: value for k in ATTRS}}


def _manifest_folder(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    for index, split in enumerate(("train", "valid", "test")):
        wav = _wav(tmp_path / f"{split}.wav")
        with open(folder / f"{split}.json", "w") as handle:
            json.dump({f"u{index}": _entry(wav)}, handle)
    return folder


def test_a_duplicate_id_inside_one_json_manifest_is_refused(tmp_path):
    folder = _manifest_folder(tmp_path)
    check_manifests(str(folder))
    wav = _wav(tmp_path / "extra.wav")
    first, second = json.dumps(_entry(wav)), json.dumps(_entry(wav, 5.0))
    # json.load would keep only the second u0
    (folder / "train.json").write_text(f'{{"u0": {first}, "u0": {second}}}')
    with pytest.raises(CorpusError) as error:
        check_manifests(str(folder))
    assert f"{folder / 'train.json'}: duplicate ID u0" in str(error.value)


def _jsonl_layout(**changes):
    options = dict(
        partitions={"train": "train", "valid": "dev", "test": "test"},
        audio_folder="",
        label_files="labels.jsonl",
        id_column="file",
        partition_column="split",
        attribute_columns=ATTRS,
    )
    return CorpusLayout(**{**options, **changes})


def _jsonl_corpus(tmp_path, records):
    with open(tmp_path / "labels.jsonl", "w") as handle:
        handle.writelines(line + "\n" for line in records)


def _record(name, split, value=3.0, **extra):
    _wav(f"{name}.wav")
    return {
        "file": f"{name}.wav",
        "split": split,
        "a": value,
        "v": value,
        "d": value,
        **extra,
    }


def test_a_duplicate_key_inside_one_json_lines_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = [
        json.dumps(_record(n, s))
        for n, s in [("t", "train"), ("d", "dev"), ("x", "test")]
    ]
    # the same record naming its file twice: the second would win silently
    records[0] = records[0][:-1] + ', "file": "d.wav"}'
    _jsonl_corpus(tmp_path, records)
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(tmp_path), str(tmp_path / "m"), _jsonl_layout())
    assert "labels.jsonl:1" in str(error.value)
    assert "names the key 'file' twice" in str(error.value)


def test_a_duplicate_id_in_a_json_array_label_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = [_record(n, s) for n, s in [("t", "train"), ("d", "dev"), ("x", "test")]]
    records.append(dict(records[0]))
    (tmp_path / "labels.json").write_text(json.dumps(records))
    with pytest.raises(CorpusError) as error:
        prepare_corpus(
            str(tmp_path), str(tmp_path / "m"), _jsonl_layout(label_files="labels.json")
        )
    assert "labels.json:4 [t]: duplicate ID t (also" in str(error.value)


def test_nested_label_keys_are_read_with_dotted_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = []
    for index, (name, split) in enumerate(
        [("t", "train"), ("d", "dev"), ("x", "test")]
    ):
        _wav(f"{name}.wav")
        emotion = {"arousal": 1.0 + index, "valence": 2.0, "dominance": 3.5}
        records.append(
            json.dumps(
                {"audio": {"path": f"{name}.wav"}, "split": split, "emotion": emotion}
            )
        )
    _jsonl_corpus(tmp_path, records)
    layout = _jsonl_layout(
        id_column="audio.path",
        attribute_columns={k: f"emotion.{k}" for k in ATTRS},
    )
    paths = prepare_corpus(str(tmp_path), str(tmp_path / "m"), layout)
    with open(paths["valid"]) as handle:
        valid = json.load(handle)
    assert valid["d"]["arousal"] == 2.0 and valid["d"]["dominance"] == 3.5
    assert valid["d"]["wav"] == str(tmp_path / "d.wav")


def _scale_corpus(tmp_path, values):
    """One JSON-lines corpus whose arousal labels are ``values`` (train)."""
    records = [
        _record(
            f"t{i}",
            "train",
            4.0,
        )
        for i in range(len(values))
    ]
    for record, value in zip(records, values, strict=True):
        record["a"] = value
    records += [_record("d", "dev"), _record("x", "test")]
    _jsonl_corpus(tmp_path, [json.dumps(r) for r in records])


def test_a_wrong_label_scale_is_summarised_and_names_label_low_high(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _scale_corpus(tmp_path, [10.0 * i for i in range(1, 41)])  # 0-100 scale
    for skip_invalid in (False, True):
        with pytest.raises(CorpusError) as error:
            prepare_corpus(
                str(tmp_path),
                str(tmp_path / "m"),
                _jsonl_layout(),
                skip_invalid=skip_invalid,
            )
        message = str(error.value)
        assert len(message.splitlines()) < 12
        assert message.count("is outside [1.0, 7.0]") == 5
        assert "40 label(s) in 40 row(s) are outside, spanning [10.0, 400.0]" in (
            message
        )
        assert "label_low" in message and "label_high" in message
        assert "pass --skip_invalid=True" not in message
        assert not (tmp_path / "m").exists()


def test_a_few_labels_outside_the_scale_keep_the_skip_invalid_advice(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _scale_corpus(tmp_path, [3.0] * 8 + [9.0, 9.5])
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(tmp_path), str(tmp_path / "m"), _jsonl_layout())
    assert "--skip_invalid=True to leave those utterances out" in str(error.value)
    assert "label_low" not in str(error.value)
    paths = prepare_corpus(
        str(tmp_path), str(tmp_path / "m"), _jsonl_layout(), skip_invalid=True
    )
    with open(paths["train"]) as handle:
        assert len(json.load(handle)) == 8
