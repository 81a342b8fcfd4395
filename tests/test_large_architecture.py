"""Stage 2 of the recipe on the real WavLM-large architecture (random weights).

Nothing can be downloaded here, so the encoder is built from its published
configuration (``--ssl_from_config=True``); one debug batch per stage.
"""

from transformers import Wav2Vec2FeatureExtractor

from speechbrain_lora_ser.synthetic.architectures import large_config

from conftest import run_train

PAPER_LORA_PARAMETERS = 14_155_776


def test_stage2_trains_exactly_the_paper_lora_parameters_plus_head(
    recipe_data, tmp_path
):
    encoder = tmp_path / "wavlm-large"
    large_config("microsoft/wavlm-large").save_pretrained(encoder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(encoder)
    output = tmp_path / "run"
    run_train(
        "recipes/BIIC-Podcast/train.py",
        "recipes/BIIC-Podcast/hparams/ft_lora.yaml",
        [
            f"--data_folder={recipe_data / 'BIIC-Podcast'}",
            f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
            f"--ssl_hub={encoder}",
            "--ssl_from_config=True",
            f"--output_folder={output}",
            "--batch_size=1",
            "--test_batch_size=2",
            "--num_workers=0",
            "--debug",
            "--debug_batches=1",
            "--debug_epochs=1",
        ],
    )
    log = (output / "train_log.txt").read_text()
    stage2 = next(
        line for line in log.splitlines() if "stage: stage2, mode: lora" in line
    )
    fields = dict(part.split(": ") for part in stage2.split(", "))
    head = int(fields["trainable_head"])
    # head: attentive pooling (1024 channels) + 2048 -> 256 -> 3 layers
    assert 1_000_000 < head < 1_100_000
    assert int(fields["trainable_encoder"]) == PAPER_LORA_PARAMETERS
    assert int(fields["trainable_total"]) == PAPER_LORA_PARAMETERS + head
    stage1 = next(
        line for line in log.splitlines() if "stage: stage1, mode: finetune" in line
    )
    assert (
        int(dict(p.split(": ") for p in stage1.split(", "))["trainable_encoder"]) > 3e8
    )
