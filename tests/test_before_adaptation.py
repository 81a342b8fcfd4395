"""An FT+LoRA run reports its stage 1 on its own corpus: the cross-lingual
baseline (issue 30, item 14)."""

import json

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES


def test_ft_lora_reports_stage1_on_its_own_corpus_once(trained_ft_lora):
    with open(trained_ft_lora / "results.json") as handle:
        results = json.load(handle)
    baseline = results["before_adaptation"]
    assert baseline["corpus"] == "BIIC-Podcast"
    assert baseline["model"].startswith("stage1 (finetune on MSP-Podcast)")
    assert all(-1.0 <= baseline["ccc"][key] <= 1.0 for key in ATTRIBUTES)
    # the model changed in stage 2: the baseline is not the final figure
    assert baseline["ccc"] != {k: results["BIIC-Podcast"][k] for k in ATTRIBUTES}
    # saved in stage 2's folder, so the second run (a resume) read it back
    saved = list(trained_ft_lora.glob("save/**/before_adaptation.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text()) == baseline
    log = (trained_ft_lora / "log.txt").read_text()
    assert log.count("test, before stage2") == 1  # tested once over both runs
    assert log.count("cross-lingual baseline") == 2  # reported by each run
