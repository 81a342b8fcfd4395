"""The pipeline learns: emotional prosody in two languages, FT then LoRA.

Runs the built-in demo (the real recipes, a small WavLM, English and Mandarin
synthetic speech whose attributes are carried by prosody, mapped differently
in each language).
"""

import json

from speechbrain_lora_ser import demo


def test_stage1_learns_and_lora_adapts_to_the_second_language(tmp_path):
    table = demo.main(
        [
            "--output_folder",
            str(tmp_path),
            "--epochs",
            "10",
            "--sizes",
            "120",
            "30",
            "40",
        ]
    )
    stage1 = json.loads(
        (tmp_path / "MSP-Podcast_finetune" / "results.json").read_text()
    )
    stage2 = json.loads(
        (tmp_path / "BIIC-Podcast_ft_lora" / "results.json").read_text()
    )
    print(table)
    # stage 1: in-domain arousal is clearly learned
    assert stage1["MSP-Podcast"]["arousal"] > 0.4
    # stage 2: LoRA raises the second language's arousal CCC above the
    # stage-1 model's cross-lingual CCC on that language
    assert stage2["BIIC-Podcast"]["arousal"] > stage1["BIIC-Podcast"]["arousal"] + 0.05
    log = (tmp_path / "BIIC-Podcast_ft_lora" / "train_log.txt").read_text()
    assert "stage: stage1, mode:" not in log  # stage 1 was reused, not retrained
    assert "stage: stage1, reused_from:" in log
    assert "stage: stage2, mode: lora" in log
