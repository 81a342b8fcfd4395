"""The model is declared once: an edit of the model file reaches everything.

Each recipe declares its model in ``hparams/models/ser_model.yaml``. Training
builds it from there, the export writes that declaration (with the run's
values) as the ``hyperparams.yaml`` that ``EncoderRegressor`` loads, and an
adapter bank takes each language's head from its run's export: one edit of
the model file (here a pooling option) changes all three.
"""

import shutil

import torch

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.bank.bank_builder import build_bank

from conftest import ROOT, SMALL_MODEL_ARGS, run_train

POOLING = (
    "pooling: !new:"
    "speechbrain_lora_ser.modeling.model.MaskedAttentiveStatisticsPooling\n"
    "    channels: !ref <encoder_dim>\n"
    "    attention_channels: !ref <attention_channels>\n"
)


def edit_model_file(recipe):
    model = recipe / "hparams" / "models" / "ser_model.yaml"
    text = model.read_text()
    assert POOLING in text
    model.write_text(text.replace(POOLING, POOLING + "    global_context: False\n"))


def test_one_edit_of_the_model_file_reaches_training_export_and_bank(
    recipe_data, tmp_path
):
    recipes = tmp_path / "recipes"
    shutil.copytree(f"{ROOT}/recipes", recipes, symlinks=True)
    for corpus in ("MSP-Podcast", "BIIC-Podcast"):
        edit_model_file(recipes / corpus)
    common = [
        f"--ssl_hub={recipe_data / 'wavlm-small'}",
        "--number_of_epochs=1",
        *SMALL_MODEL_ARGS,
    ]
    base, adapted = tmp_path / "msp_finetune", tmp_path / "biic_ft_lora"
    run_train(
        "train.py",
        "hparams/finetune.yaml",
        [f"--data_folder={recipe_data / 'MSP-Podcast'}", f"--output_folder={base}"]
        + common,
        cwd=str(recipes / "MSP-Podcast"),
    )
    run_train(
        "train.py",
        "hparams/ft_lora.yaml",
        [
            f"--data_folder={recipe_data / 'BIIC-Podcast'}",
            f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
            f"--stage1_folder={base}",
            f"--output_folder={adapted}",
        ]
        + common,
        cwd=str(recipes / "BIIC-Podcast"),
    )
    # training: the checkpoint holds the edited pooling (no global context:
    # its TDNN sees the hidden states alone, not [x; mean; std])
    checkpoint = next((adapted / "save" / "stage2").glob("CKPT*")) / "head.ckpt"
    weight = torch.load(checkpoint, weights_only=True)["pooling.tdnn.conv.conv.weight"]
    hidden = 64  # the tiny WavLM's width
    assert weight.shape[1] == hidden
    # export: the model file, with the run's values
    exported = (adapted / "inference" / "hyperparams.yaml").read_text()
    assert POOLING + "    global_context: False\n" in exported
    model = EncoderRegressor.from_hparams(
        source=str(adapted / "inference"), savedir=str(tmp_path / "m")
    )
    assert model.mods.regressor.head.pooling.global_context is False
    # bank: each language's head from its run's export
    bank_folder = tmp_path / "bank"
    build_bank(str(base), [str(adapted)], str(bank_folder), max_utterances=12)
    bank = EncoderRegressor.from_hparams(
        source=str(bank_folder), savedir=str(tmp_path / "b")
    )
    heads = bank.mods.regressor.heads.values()
    assert [head.pooling.global_context for head in heads] == [False, False]
    audio = str(sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[0])
    forced = bank.predict_file(
        audio, language="BIIC-Podcast", clip=False, calibrate=False
    )
    alone = model.predict_file(audio, clip=False, calibrate=False)
    for name in ("arousal", "valence", "dominance"):
        assert abs(forced[name] - alone[name]) <= 1e-4
