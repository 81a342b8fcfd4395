"""Corpus preparation: the recipes' layouts, release differences, validation."""

import csv
import json
import logging
import os
import shutil
import tempfile

import numpy as np
import pytest
import soundfile

from speechbrain_lora_ser.data.corpus import prepare_corpus, select_subset
from speechbrain_lora_ser.data.manifests import CorpusError, read_manifests
from speechbrain_lora_ser.demo import recipe_layouts
from speechbrain_lora_ser.modeling.labels import LabelScaler
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

from conftest import SMALL_MODEL_ARGS, recipe_datasets, run_train

LAYOUTS = recipe_layouts()
MSP_PODCAST = LAYOUTS["MSP-Podcast"]
BIIC_PODCAST = LAYOUTS["BIIC-Podcast"]


def load_audio(path):
    """The recipe's training pipeline's view of one file (16 kHz mono)."""
    folder = tempfile.mkdtemp()
    entry = {
        "wav": str(path),
        "duration": 1.0,
        "arousal": None,
        "valence": None,
        "dominance": None,
    }
    for partition in ("train", "valid", "test"):
        with open(os.path.join(folder, f"{partition}.json"), "w") as f:
            json.dump({"x": entry}, f)
    return recipe_datasets(folder, LabelScaler())["test"][0]["sig"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine") / "MSP-Podcast"
    return write_demo_corpus(str(folder), "english", MSP_PODCAST, (8, 4, 4), seed=3)


@pytest.fixture
def corpus(pristine, tmp_path):
    folder = tmp_path / "MSP-Podcast"
    shutil.copytree(pristine, folder)
    return folder


def label_file(folder):
    return folder / "Labels" / "labels_consensus.csv"


def read_rows(folder):
    with open(label_file(folder), newline="") as f:
        return list(csv.DictReader(f))


def write_rows(folder, rows, path=None):
    with open(path or label_file(folder), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def edit_row(folder, index, **changes):
    rows = read_rows(folder)
    rows[index].update(changes)
    write_rows(folder, rows)
    return rows[index]["FileName"]


def test_prepares_manifests_with_scaled_labels_on_the_original_scale(corpus, tmp_path):
    paths = prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    train = json.loads(open(paths["train"]).read())
    assert len(train) == 8
    rows = {r["FileName"][:-4]: r for r in read_rows(corpus)}
    for utt_id, entry in train.items():
        assert entry["arousal"] == pytest.approx(float(rows[utt_id]["EmoAct"]))
        assert entry["dominance"] == pytest.approx(float(rows[utt_id]["EmoDom"]))
        assert entry["duration"] == pytest.approx(
            soundfile.info(entry["wav"]).duration, abs=1e-6
        )
    assert len(json.loads(open(paths["valid"]).read())) == 4
    assert len(json.loads(open(paths["test"]).read())) == 4


def test_older_release_spellings_are_accepted(corpus, tmp_path):
    rows = read_rows(corpus)
    for row in rows:
        if row["Split_Set"] == "Development":
            row["Split_Set"] = "Validation"
    os.remove(label_file(corpus))
    write_rows(corpus, rows, corpus / "Labels" / "labels_concensus.csv")
    paths = prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    assert len(json.loads(open(paths["valid"]).read())) == 4


def test_unlabeled_partitions_are_kept_for_prediction(corpus, tmp_path):
    rows = read_rows(corpus)
    for row in rows:
        if row["Split_Set"] == "Test1":
            row["EmoAct"] = row["EmoVal"] = row["EmoDom"] = ""
    rows[-1]["Split_Set"] = "Test3"  # v1.12: a partition without labels
    rows[0]["Split_Set"] = "Test2"  # a labeled extra partition
    write_rows(corpus, rows)
    paths = prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    assert sorted(paths) == ["Test2", "Test3", "test", "train", "valid"]
    test = json.loads(open(paths["test"]).read())
    assert len(test) == 3
    assert all(entry["arousal"] is None for entry in test.values())
    test3 = json.loads(open(paths["Test3"]).read())
    assert list(test3) == [rows[-1]["FileName"][:-4]]
    test2 = json.loads(open(paths["Test2"]).read())
    assert test2[rows[0]["FileName"][:-4]]["arousal"] == float(rows[0]["EmoAct"])
    assert read_manifests(str(tmp_path / "m")) == paths


def test_reproducible_train_subsets(corpus, tmp_path):
    a = prepare_corpus(str(corpus), str(tmp_path / "a"), MSP_PODCAST, train_subset=5)
    b = prepare_corpus(str(corpus), str(tmp_path / "b"), MSP_PODCAST, train_subset=5)
    c = prepare_corpus(
        str(corpus), str(tmp_path / "c"), MSP_PODCAST, train_subset=5, subset_seed=7
    )
    subset_a = json.loads(open(a["train"]).read())
    assert len(subset_a) == 5
    assert subset_a == json.loads(open(b["train"]).read())
    assert set(subset_a) != set(json.loads(open(c["train"]).read()))
    # development and test sets are unchanged by the subset
    assert len(json.loads(open(a["valid"]).read())) == 4


def test_train_subsets_are_nested():
    entries = {f"utt{i:05d}": {"duration": i} for i in range(30000)}
    sizes = (1000, 2000, 5000, 10000, 20000)
    subsets = [set(select_subset(entries, size, seed=1234)) for size in sizes]
    assert [len(s) for s in subsets] == list(sizes)
    for smaller, larger in zip(subsets, subsets[1:], strict=False):
        assert smaller < larger
    assert subsets[0] != set(select_subset(entries, 1000, seed=7))


def test_preparation_is_skipped_when_done_and_redone_when_labels_change(
    corpus, tmp_path, caplog
):
    save = tmp_path / "m"
    prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    with caplog.at_level(logging.INFO):
        prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    assert "up to date" in caplog.text
    edit_row(corpus, 0, EmoAct="2.5")
    paths = prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    train = json.loads(open(paths["train"]).read())
    assert 2.5 in [e["arousal"] for e in train.values()]


def _corrupt_audio(folder, name, data):
    (folder / "Audios" / name).write_bytes(data)


def _short_audio(folder, name):
    soundfile.write(folder / "Audios" / name, np.zeros(100, dtype=np.float32), 16000)


BAD_INPUTS = {
    "missing audio": (
        lambda f: os.remove(f / "Audios" / read_rows(f)[1]["FileName"]),
        "audio file is missing",
    ),
    "unreadable audio": (
        lambda f: _corrupt_audio(f, read_rows(f)[1]["FileName"], b"garbage"),
        "audio file is unreadable",
    ),
    "empty audio": (
        lambda f: soundfile.write(
            f / "Audios" / read_rows(f)[1]["FileName"], np.zeros(0, np.float32), 16000
        ),
        "audio file is empty",
    ),
    "too short audio": (
        lambda f: _short_audio(f, read_rows(f)[1]["FileName"]),
        "shorter than the encoder's receptive field",
    ),
    "missing label": (lambda f: edit_row(f, 1, EmoVal=""), "valence label is missing"),
    "all labels missing": (
        lambda f: edit_row(f, 1, EmoAct="", EmoVal="", EmoDom=""),
        "labels are missing",
    ),
    "label not a number": (
        lambda f: edit_row(f, 1, EmoAct="high"),
        "arousal label 'high' is not a number",
    ),
    "label outside scale": (
        lambda f: edit_row(f, 1, EmoDom="9.5"),
        "dominance label 9.5 is outside [1.0, 7.0]",
    ),
    "duplicate id": (
        lambda f: edit_row(f, 1, FileName=read_rows(f)[0]["FileName"]),
        "duplicate ID",
    ),
    "unknown partition": (
        lambda f: edit_row(f, 1, Split_Set="Training"),
        "unknown partition 'Training'",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_named_and_nothing_prepared_is_lost(kind, corpus, tmp_path):
    save = tmp_path / "manifests"
    paths = prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    before = {split: open(path).read() for split, path in paths.items()}
    rows = read_rows(corpus)
    damage, message = BAD_INPUTS[kind]
    damage(corpus)
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    text = str(error.value)
    assert message in text
    # the problem names the table, its line and the utterance ID
    bad_row = rows[0 if kind == "duplicate id" else 1]
    where, _ = error.value.problems[0]
    assert where == f"{label_file(corpus)}:3 [{bad_row['FileName'][:-4]}]"
    assert "--skip_invalid" in text
    assert {split: open(path).read() for split, path in paths.items()} == before


def test_every_problem_is_listed_at_once_and_skip_invalid_goes_on(
    corpus, tmp_path, caplog
):
    rows = read_rows(corpus)
    rows[0]["EmoAct"] = "abc"
    rows[2]["EmoVal"] = "0.2"
    write_rows(corpus, rows)
    os.remove(corpus / "Audios" / rows[3]["FileName"])
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    assert len(error.value.problems) == 3
    for index in (0, 2, 3):
        assert f"[{rows[index]['FileName'][:-4]}]" in str(error.value)
    with caplog.at_level(logging.WARNING):
        paths = prepare_corpus(
            str(corpus), str(tmp_path / "m"), MSP_PODCAST, skip_invalid=True
        )
    assert "left out 3 invalid utterance(s)" in caplog.text
    assert len(json.loads(open(paths["train"]).read())) == 5


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: shutil.rmtree(f), "data_folder does not exist"),
        (lambda f: os.remove(label_file(f)), "label file not found"),
        (
            lambda f: label_file(f).write_text("FileName,Split_Set\na.wav,Train\n"),
            "malformed label file: missing columns ['EmoAct', 'EmoVal', 'EmoDom']; "
            "the header has columns ['FileName', 'Split_Set']",
        ),
        (
            lambda f: label_file(f).write_bytes(b"\xff\xfe\x00garbage\x00\x81"),
            "malformed label file",
        ),
    ],
)
def test_corpus_level_problems(damage, message, corpus, tmp_path):
    damage(corpus)
    with pytest.raises(CorpusError, match="problem") as error:
        prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    assert message in str(error.value)
    # leaving rows out cannot fix a layout problem: never suggested for one
    assert "--skip_invalid" not in str(error.value)
    assert "CorpusLayout" in str(error.value)


def test_other_rates_and_channels_are_converted_and_reported_once(
    corpus, tmp_path, caplog
):
    for row in read_rows(corpus)[:3]:
        path = corpus / "Audios" / row["FileName"]
        wav, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, np.stack([wav, wav], axis=1), rate)
    row = read_rows(corpus)[4]
    path = corpus / "Audios" / row["FileName"]
    original = load_audio(str(path))
    import torchaudio.functional

    soundfile.write(
        path, torchaudio.functional.resample(original, 16000, 22050).numpy(), 22050
    )
    with caplog.at_level(logging.WARNING):
        prepare_corpus(str(corpus), str(tmp_path / "m"), MSP_PODCAST)
    assert caplog.text.count("not 16 kHz mono") == 1
    assert "4 audio file(s) are not 16 kHz mono" in caplog.text
    converted = load_audio(str(path))
    assert converted.dim() == 1
    assert abs(converted.shape[0] - original.shape[0]) <= 1


def test_biic_layout_partition_names(tmp_path):
    folder = write_demo_corpus(
        str(tmp_path / "BIIC"), "mandarin", BIIC_PODCAST, (3, 2, 2), seed=0
    )
    paths = prepare_corpus(folder, str(tmp_path / "m"), BIIC_PODCAST)
    assert [len(json.loads(open(paths[s]).read())) for s in paths] == [3, 2, 2]


def test_recipe_stops_before_training_with_the_full_list(recipe_data, corpus, tmp_path):
    edit_row(corpus, 1, EmoAct="oops")
    output = tmp_path / "run"
    args = [
        f"--data_folder={corpus}",
        f"--cross_data_folder={recipe_data / 'BIIC-Podcast'}",
        f"--ssl_hub={recipe_data / 'wavlm-small'}",
        f"--output_folder={output}",
        "--number_of_epochs=1",
        *SMALL_MODEL_ARGS,
    ]
    with pytest.raises(AssertionError, match="arousal label 'oops' is not a number"):
        run_train(
            "recipes/MSP-Podcast/train.py",
            "recipes/MSP-Podcast/hparams/lora.yaml",
            args,
        )
    assert not (output / "save").exists() or not list((output / "save").rglob("CKPT*"))
    run_train(
        "recipes/MSP-Podcast/train.py",
        "recipes/MSP-Podcast/hparams/lora.yaml",
        args + ["--skip_invalid=True"],
    )
    assert (output / "results.json").is_file()


def test_the_manifest_folder_holds_exactly_the_last_preparation(corpus, tmp_path):
    save = tmp_path / "m"
    rows = read_rows(corpus)
    rows[-1]["Split_Set"] = "Test3"
    write_rows(corpus, rows)
    paths = prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    assert list(paths) == ["train", "valid", "test", "Test3"]
    # no index: the partitions are the folder's <partition>.json files, and
    # the preparation's own record is hidden
    assert sorted(p.name for p in save.iterdir()) == [
        ".prepared.json",
        "Test3.json",
        "test.json",
        "train.json",
        "valid.json",
    ]
    rows[-1]["Split_Set"] = "Test1"
    write_rows(corpus, rows)
    paths = prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    assert list(paths) == ["train", "valid", "test"]
    assert not (save / "Test3.json").exists()
    assert read_manifests(str(save)) == paths


def test_a_foreign_json_file_in_the_manifest_folder_is_named(corpus, tmp_path):
    save = tmp_path / "m"
    save.mkdir()
    (save / "notes.json").write_text("{}")
    with pytest.raises(CorpusError) as error:
        prepare_corpus(str(corpus), str(save), MSP_PODCAST)
    assert str(save / "notes.json") in str(error.value)
    assert "would be read as a partition" in str(error.value)
    assert "--skip_invalid" not in str(error.value)
