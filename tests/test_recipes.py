"""Recipe runs, driven by tests/recipes/<Dataset>.csv as in SpeechBrain."""

import csv
import hashlib
import json
import math
import os
import re
import shutil

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_lora_ser.demo import load_recipe_module
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

from conftest import CALIBRATION_KEYS, ROOT, SMALL_MODEL_ARGS, run_train

TRAINING_YAMLS = ("off_the_shelf", "finetune", "lora", "ft_dual", "ft_lora")


def recipe_rows():
    rows = []
    for name in sorted(os.listdir(os.path.join(ROOT, "tests", "recipes"))):
        if not name.endswith(".csv"):
            continue  # setup/: the scripts SpeechBrain's runner calls
        with open(os.path.join(ROOT, "tests", "recipes", name), newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


ROWS = recipe_rows()


def recipe_row(dataset, configuration):
    return next(
        r
        for r in ROWS
        if r["Dataset"] == dataset
        and os.path.basename(r["Hparam_file"]) == f"{configuration}.yaml"
    )


def run_row(row, data, output, *extra, persistent=True):
    return run_train(
        row["Script_file"],
        row["Hparam_file"],
        replace_flags(debug_args(row, data, output, persistent), extra),
    )


def replace_flags(args, extra):
    """``args`` with the ``--key=value`` flags of ``extra`` set (or added)."""
    keys = {flag.split("=")[0] for flag in extra}
    return [a for a in args if a.split("=")[0] not in keys] + list(extra)


def debug_args(row, data_folder, output_folder, persistent=False):
    flags = row["test_debug_flags"].replace("tests/tmp", str(data_folder))
    extra = ["--debug_persistently"] if persistent else []
    return flags.split() + [f"--output_folder={output_folder}"] + extra


def expected_files(row):
    match = re.search(r"file_exists=\[(.*?)\]", row["test_debug_checks"])
    return match.group(1).split(",")


def test_every_training_yaml_has_a_recipe_test_row():
    yamls = set()
    for corpus in ("MSP-Podcast", "BIIC-Podcast"):
        folder = os.path.join("recipes", corpus, "hparams")
        yamls |= {os.path.join(folder, f"{name}.yaml") for name in TRAINING_YAMLS}
        assert sorted(os.listdir(os.path.join(ROOT, folder))) == sorted(
            [f"{name}.yaml" for name in TRAINING_YAMLS] + ["models"]
        )
    assert yamls == {row["Hparam_file"] for row in ROWS}
    for row in ROWS:
        for key in ("Script_file", "Data_prep_file", "Readme_file"):
            assert os.path.isfile(os.path.join(ROOT, row[key])), row[key]


@pytest.mark.parametrize(
    "row",
    ROWS,
    ids=[f"{r['Dataset']}-{os.path.basename(r['Hparam_file'])}" for r in ROWS],
)
def test_recipe_debug_run(row, recipe_data, tmp_path):
    output = tmp_path / "out"
    run_train(
        row["Script_file"], row["Hparam_file"], debug_args(row, recipe_data, output)
    )
    for name in expected_files(row):
        assert (output / name).is_file(), name
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"MSP-Podcast", "BIIC-Podcast", *CALIBRATION_KEYS}
    for corpus in ("MSP-Podcast", "BIIC-Podcast"):
        for values in (results[corpus], results["calibrated"][corpus]):
            assert set(values) == {"arousal", "valence", "dominance"}
            assert all(math.isfinite(v) for v in values.values())
    attributes = results["calibration"]["attributes"]
    assert list(attributes) == ["arousal", "valence", "dominance"]
    log = (output / "train_log.txt").read_text()
    configuration = os.path.basename(row["Hparam_file"])[: -len(".yaml")]
    other = "MSP-Podcast" if row["Dataset"] == "BIIC-Podcast" else "BIIC-Podcast"
    stages = {
        "off_the_shelf": [("head", row["Dataset"])],
        "finetune": [("finetune", row["Dataset"])],
        "lora": [("lora", row["Dataset"])],
        "ft_dual": [("finetune", other), ("finetune", row["Dataset"])],
        "ft_lora": [("finetune", other), ("lora", row["Dataset"])],
    }[configuration]
    for index, (mode, corpus) in enumerate(stages, start=1):
        assert f"stage: stage{index}, mode: {mode}, corpus: {corpus}," in log
    assert f"stage: stage{len(stages) + 1}" not in log
    if configuration == "off_the_shelf":
        assert (
            "mode: head, corpus: " + row["Dataset"] + ", trainable_encoder: 0," in log
        )
    assert "valid ccc_arousal" in log and "test ccc_arousal" in log
    with open(output / "predictions" / f"{row['Dataset']}_test.csv") as f:
        predictions = list(csv.DictReader(f))
    assert len(predictions) == 6
    for prediction in predictions:
        assert 1.0 <= float(prediction["true_arousal"]) <= 7.0
    # the results folder keeps the recipe that ran, and its YAML loads again
    assert (output / "train.py").read_text() == open(
        os.path.join(ROOT, row["Script_file"])
    ).read()
    with open(output / "hyperparams.yaml") as f:
        saved = load_hyperpyyaml(f)
    assert [s.train for s in saved["stages"]] == [mode for mode, _ in stages]


def test_single_corpus_configuration_needs_only_its_data_folder(recipe_data, tmp_path):
    output = tmp_path / "finetune"
    run_train(
        "train.py",
        "hparams/finetune.yaml",
        [
            f"--data_folder={recipe_data / 'MSP-Podcast'}",
            f"--ssl_hub={recipe_data / 'wavlm-small'}",
            f"--output_folder={output}",
            "--number_of_epochs=1",
            *SMALL_MODEL_ARGS,
        ],
        cwd=os.path.join(ROOT, "recipes", "MSP-Podcast"),
    )
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"MSP-Podcast", *CALIBRATION_KEYS}
    assert set(results["calibrated"]) == {"MSP-Podcast"}
    assert (output / "inference" / "hyperparams.yaml").is_file()
    assert sorted(os.listdir(output / "predictions")) == ["MSP-Podcast_test.csv"]

    # --skip_prep=True: the manifests are used as they are, and checked
    manifest = output / "manifests" / "MSP-Podcast" / "test.json"
    entries = json.loads(manifest.read_text())
    first = sorted(entries)[0]
    entries[first]["wav"] = str(tmp_path / "moved.wav")
    manifest.write_text(json.dumps(entries))
    with pytest.raises(
        AssertionError, match="test.json .*: audio file is missing: .*moved.wav"
    ):
        run_train(
            "train.py",
            "hparams/finetune.yaml",
            [
                f"--data_folder={recipe_data / 'MSP-Podcast'}",
                f"--ssl_hub={recipe_data / 'wavlm-small'}",
                f"--output_folder={output}",
                "--number_of_epochs=1",
                "--skip_prep=True",
                *SMALL_MODEL_ARGS,
            ],
            cwd=os.path.join(ROOT, "recipes", "MSP-Podcast"),
        )


def test_two_stage_configuration_asks_for_the_cross_corpus(recipe_data, tmp_path):
    with pytest.raises(AssertionError) as error:
        run_train(
            "recipes/BIIC-Podcast/train.py",
            "recipes/BIIC-Podcast/hparams/ft_lora.yaml",
            [
                f"--data_folder={recipe_data / 'BIIC-Podcast'}",
                f"--ssl_hub={recipe_data / 'wavlm-small'}",
                f"--output_folder={tmp_path / 'out'}",
            ],
        )
    message = str(error.value)
    assert "stage1 trains on MSP-Podcast: pass --cross_data_folder" in message
    assert "Traceback" not in message


def test_stage1_is_reused_and_finished_runs_are_not_repeated(recipe_data, tmp_path):
    stage1 = tmp_path / "msp_finetune"
    run_row(recipe_row("MSP-Podcast", "finetune"), recipe_data, stage1)
    ft_lora = recipe_row("BIIC-Podcast", "ft_lora")
    output = tmp_path / "biic_ft_lora"
    run_row(ft_lora, recipe_data, output, f"--stage1_folder={stage1}")
    log = (output / "train_log.txt").read_text()
    assert "stage: stage1, mode:" not in log
    assert f"stage: stage1, reused_from: {stage1}/save/stage1/CKPT" in log
    assert "stage: stage2, mode: lora" in log
    assert not list((output / "save").glob("stage1/CKPT*"))
    first = (output / "results.json").read_text()
    # A second call finds the finished stage and trains nothing more.
    epochs_before = log.count("stage: stage2, epoch:")
    run_row(ft_lora, recipe_data, output, f"--stage1_folder={stage1}")
    log = (output / "train_log.txt").read_text()
    assert log.count("stage: stage2, epoch:") == epochs_before
    assert json.loads((output / "results.json").read_text()) == json.loads(first)
    info = json.loads((output / "run_info.json").read_text())
    recorded = info["stage_fingerprints"]["stage1"]
    assert recorded["settings"]["ssl_hub"] == str(recipe_data / "wavlm-small")
    assert recorded["data"]["train_utterances"] == 12
    assert recorded["corpus"] == "MSP-Podcast"
    assert recorded["label_range"] == [1.0, 7.0]
    assert recorded["effective_batch"].startswith("4 utterances")


@pytest.mark.parametrize(
    "change, named",
    [
        (["--label_high=8.0"], "label_range"),
        (["--debug_batches=1"], "debug.debug_batches"),
    ],
)
def test_a_stage1_trained_differently_is_refused_with_the_key_named(
    change, named, recipe_data, tmp_path
):
    """The label scale and the run options are not settings to adopt."""
    stage1 = tmp_path / "msp_finetune"
    run_row(recipe_row("MSP-Podcast", "finetune"), recipe_data, stage1, *change)
    with pytest.raises(AssertionError) as error:
        run_row(
            recipe_row("BIIC-Podcast", "ft_lora"),
            recipe_data,
            tmp_path / "out",
            f"--stage1_folder={stage1}",
        )
    message = str(error.value)
    assert "was trained differently" in message
    assert re.search(rf"\n  {named}: there .*, here ", message), message[-2000:]


def test_a_reused_stage1_brings_its_settings_and_refuses_conflicts(
    recipe_data, tmp_path
):
    """Reuse without retyping: what stage 1 was trained with is taken."""
    stage1 = tmp_path / "msp_finetune"
    changed = ["--lr=0.002", "--attention_channels=4", "--batch_size=2"]
    run_row(recipe_row("MSP-Podcast", "finetune"), recipe_data, stage1, *changed)
    ft_lora = recipe_row("BIIC-Podcast", "ft_lora")
    output = tmp_path / "out"
    untyped = {"--lr", "--attention_channels", "--batch_size"}
    args = [
        a
        for a in debug_args(ft_lora, recipe_data, output, persistent=True)
        if a.split("=")[0] not in untyped
    ]
    result = run_train(
        ft_lora["Script_file"],
        ft_lora["Hparam_file"],
        args + [f"--stage1_folder={stage1}"],
    )
    printed = result.stdout + result.stderr
    assert "Settings taken from the reused stage 1" in printed
    for setting in ("lr=0.002", "attention_channels=4", "batch_size=2"):
        assert setting in printed
    info = json.loads((output / "run_info.json").read_text())
    stage2 = info["stage_fingerprints"]["stage2"]
    assert stage2["settings"]["lr"] == 0.002
    assert stage2["settings"]["attention_channels"] == 4
    with pytest.raises(AssertionError) as error:
        run_row(
            ft_lora,
            recipe_data,
            tmp_path / "conflict",
            f"--stage1_folder={stage1}",
            "--lr=0.001",
            "--attention_channels=8",
        )
    message = str(error.value)
    assert "--lr=0.001: stage 1 was trained with lr=0.002" in message
    assert "--attention_channels=8: stage 1 was trained with" in message


def test_stage2_trains_its_own_epochs_and_rates_on_a_reused_stage1(
    recipe_data, tmp_path
):
    """stage2_epochs / stage2_lr differ from a reused stage 1's own."""
    stage1 = tmp_path / "msp_finetune"
    run_row(
        recipe_row("MSP-Podcast", "finetune"), recipe_data, stage1, "--debug_epochs=2"
    )
    output = tmp_path / "out"
    run_row(
        recipe_row("BIIC-Podcast", "ft_lora"),
        recipe_data,
        output,
        f"--stage1_folder={stage1}",
        "--debug_epochs=2",
        "--stage2_epochs=2",
        "--stage2_lr=0.01",
    )
    log = (output / "train_log.txt").read_text()
    assert "stage: stage1, reused_from:" in log
    assert log.count("stage: stage2, epoch:") == 2
    records = json.loads((output / "run_info.json").read_text())["stage_fingerprints"]
    assert records["stage1"]["epochs"] == 1
    assert records["stage2"]["epochs"] == 2
    assert records["stage2"]["learning_rates"] == {
        "ssl": 0.01,
        "head": records["stage2"]["settings"]["lr"],
    }
    checkpoints = list((output / "save" / "stage2").glob("CKPT*"))
    assert checkpoints
    for checkpoint in checkpoints:
        state = torch.load(checkpoint / "ssl_optimizer.ckpt", weights_only=True)
        assert state["param_groups"][0]["lr"] == 0.01


def test_stage1_folder_of_the_wrong_kind_is_refused(recipe_data, tmp_path):
    lora_run = tmp_path / "msp_lora"
    run_row(recipe_row("MSP-Podcast", "lora"), recipe_data, lora_run)
    with pytest.raises(AssertionError, match="train: there 'lora', here 'finetune'"):
        run_row(
            recipe_row("BIIC-Podcast", "ft_lora"),
            recipe_data,
            tmp_path / "out",
            f"--stage1_folder={lora_run}",
        )


def test_stage1_folder_on_a_one_stage_configuration_is_an_error(recipe_data, tmp_path):
    with pytest.raises(AssertionError, match="this configuration has one stage"):
        run_row(
            recipe_row("BIIC-Podcast", "lora"),
            recipe_data,
            tmp_path / "out",
            f"--stage1_folder={tmp_path}",
        )


def test_hubert_is_only_a_different_ssl_hub(recipe_data, tiny_hubert, tmp_path):
    row = recipe_row("BIIC-Podcast", "ft_lora")
    output = tmp_path / "hubert"
    args = [
        f"--ssl_hub={tiny_hubert}" if a.startswith("--ssl_hub=") else a
        for a in debug_args(row, recipe_data, output)
    ]
    run_train(row["Script_file"], row["Hparam_file"], args)
    exported = (output / "inference" / "hyperparams.yaml").read_text()
    assert "    model_type: hubert\n" in exported
    assert "stage: stage2, mode: lora" in (output / "train_log.txt").read_text()


def test_unlabeled_and_extra_partitions_are_predicted(recipe_data, tmp_path):
    corpus = tmp_path / "MSP-Podcast"
    shutil.copytree(recipe_data / "MSP-Podcast", corpus)
    label_file = corpus / "Labels" / "labels_consensus.csv"
    with open(label_file, newline="") as f:
        rows = list(csv.DictReader(f))
    tests = [r for r in rows if r["Split_Set"] == "Test1"]
    for row in tests[:2]:  # Test3: no labels, as in MSP-Podcast v1.12
        row["Split_Set"] = "Test3"
        row["EmoAct"] = row["EmoVal"] = row["EmoDom"] = ""
    tests[2]["Split_Set"] = "Test2"  # a further labeled partition
    with open(label_file, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    output = tmp_path / "out"
    result = run_train(
        "recipes/MSP-Podcast/train.py",
        "recipes/MSP-Podcast/hparams/finetune.yaml",
        [
            f"--data_folder={corpus}",
            f"--ssl_hub={recipe_data / 'wavlm-small'}",
            f"--output_folder={output}",
            "--number_of_epochs=1",
            *SMALL_MODEL_ARGS,
        ],
    )
    predictions = output / "predictions"
    assert sorted(os.listdir(predictions)) == [
        "MSP-Podcast_Test2.csv",
        "MSP-Podcast_Test3.csv",
        "MSP-Podcast_test.csv",
    ]
    for name, expected in (("Test3", tests[:2]), ("Test2", tests[2:3])):
        with open(predictions / f"MSP-Podcast_{name}.csv") as f:
            got = list(csv.DictReader(f))
        assert [r["ID"] for r in got] == [r["FileName"][:-4] for r in expected]
        for row in got:
            assert row["arousal"] != ""
            assert (row["true_arousal"] == "") == (name == "Test3")
    output_text = result.stdout + result.stderr
    assert "MSP-Podcast Test3: 2 utterances (0 labeled)" in output_text
    assert "MSP-Podcast Test2: 1 utterances (1 labeled)" in output_text
    assert "MSP-Podcast test: 3 utterances (3 labeled)" in output_text


def _tree_state(root):
    """Digest of every file under ``root`` except caches and the copy itself."""
    state = {}
    for folder, names, files in os.walk(root):
        names[:] = [n for n in names if n not in (".git", "__pycache__")]
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".pyc"):
                continue
            with open(path, "rb") as f:
                state[path] = hashlib.sha1(f.read()).hexdigest()
    return state


#: Release styles of a new corpus, each described by the copied prepare
#: module: what replaces the BIIC-Podcast layout (or, for the last one, its
#: prepare function), and how the corpus is written.
NEW_LANGUAGE_STYLES = {
    # one table with a partition column, other names, labels on 1-5
    "one-table-1to5": (
        """BIIC_PODCAST = CorpusLayout(
    partitions={"train": ("train",), "valid": ("dev",), "test": ("eval",)},
    audio_folder="wav",
    label_files=("meta/annotations.csv",),
    id_column="file",
    partition_column="set",
    attribute_columns={"arousal": "A", "valence": "V", "dominance": "D"},
)
""",
        {"label_range": (1.0, 5.0)},
    ),
    # a TSV per partition (no partition column), FLAC at 22.05 kHz under
    # clips/<speaker>/, labels on [-1, 1]: the German corpus
    "tsv-per-partition-flac": (
        """BIIC_PODCAST = CorpusLayout(
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
""",
        {
            "label_range": (-1.0, 1.0),
            "audio_format": "flac",
            "sample_rate": 22050,
            "speaker_folders": True,
            "speaker_column": "speaker",
        },
    ),
    # JSON lines with absolute audio paths, labels on 0-100
    "jsonl-absolute-paths": (
        """BIIC_PODCAST = CorpusLayout(
    partitions={"train": ("train",), "valid": ("valid",), "test": ("test",)},
    audio_folder="",
    label_files=("annotations.jsonl",),
    id_column="audio",
    partition_column="split",
    attribute_columns={"arousal": "aro", "valence": "val", "dominance": "dom"},
)
""",
        {"label_range": (0.0, 100.0), "absolute_paths": True},
    ),
}


@pytest.fixture(scope="module")
def msp_stage1(recipe_data, tmp_path_factory):
    """An MSP-Podcast FineTuned run: the stage 1 every new language reuses."""
    stage1 = tmp_path_factory.mktemp("msp_finetune")
    run_train(
        "recipes/MSP-Podcast/train.py",
        "recipes/MSP-Podcast/hparams/finetune.yaml",
        [
            f"--data_folder={recipe_data / 'MSP-Podcast'}",
            f"--output_folder={stage1}",
            f"--ssl_hub={recipe_data / 'wavlm-small'}",
            "--number_of_epochs=1",
            *SMALL_MODEL_ARGS,
        ],
    )
    return stage1


@pytest.mark.parametrize("style", sorted(NEW_LANGUAGE_STYLES))
def test_a_new_language_is_a_copied_recipe_folder(
    style, recipe_data, msp_stage1, tmp_path
):
    """README, "Adding a language": copy a recipe, edit only the copy."""
    before = _tree_state(ROOT)
    layout_text, corpus_options = NEW_LANGUAGE_STYLES[style]
    low, high = corpus_options["label_range"]
    recipe = tmp_path / "DE-Podcast"
    shutil.copytree(os.path.join(ROOT, "recipes", "BIIC-Podcast"), recipe)
    # 1. the corpus layout, in the copied prepare module
    prepare = recipe / "biic_podcast_prepare.py"
    text = prepare.read_text()
    old_layout = text[text.index("BIIC_PODCAST = CorpusLayout(") :]
    old_layout = old_layout[: old_layout.index("\n)\n") + 3]
    prepare.write_text(text.replace(old_layout, layout_text))
    # 2. the corpus name and label range, in the copied YAML
    config = recipe / "hparams" / "ft_lora.yaml"
    text = config.read_text()
    text = text.replace("corpus: BIIC-Podcast", "corpus: DE-Podcast")
    text = text.replace("label_low: 1.0", f"label_low: {low}", 1)
    text = text.replace("label_high: 7.0", f"label_high: {high}", 1)
    config.write_text(text)
    # a German corpus released in that style
    layout = load_recipe_module(str(recipe), "biic_podcast_prepare").BIIC_PODCAST
    data = tmp_path / "DE-data"
    write_demo_corpus(str(data), "german", layout, (12, 6, 6), seed=2, **corpus_options)
    # 3. train, reusing the MSP-Podcast stage 1 without retyping its settings
    output = tmp_path / "de_ft_lora"
    run_train(
        "train.py",
        "hparams/ft_lora.yaml",
        [
            f"--data_folder={data}",
            f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
            f"--stage1_folder={msp_stage1}",
            f"--output_folder={output}",
        ],
        cwd=str(recipe),
    )
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"DE-Podcast", "MSP-Podcast", *CALIBRATION_KEYS}
    with open(output / "predictions" / "DE-Podcast_test.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    truth = [float(r["true_arousal"]) for r in rows]
    assert all(low <= value <= high for value in truth)
    # the scale is stated wherever values are: predictions, run, export
    assert {(float(r["label_low"]), float(r["label_high"])) for r in rows} == {
        (low, high)
    }
    info = json.loads((output / "run_info.json").read_text())
    assert info["label_ranges"]["DE-Podcast"] == [low, high]
    assert max(truth) - min(truth) > 0.25 * (high - low)  # on the corpus's scale
    inference = (output / "inference" / "hyperparams.yaml").read_text()
    assert f"label_low: {low}\n" in inference and f"label_high: {high}\n" in inference
    log = (output / "train_log.txt").read_text()
    assert "stage: stage2, mode: lora, corpus: DE-Podcast" in log
    assert f"stage: stage1, reused_from: {msp_stage1}" in log
    assert _tree_state(ROOT) == before
