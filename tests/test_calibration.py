"""Calibration of served values: learned attributes on the scale, others flagged."""

import json
import math

import numpy as np
import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES, ccc
from speechbrain_lora_ser.modeling.labels import LabelScaler
from speechbrain_lora_ser.serving.calibration import (
    MIN_CORRELATION,
    AttributeCalibration,
    Calibration,
    fit_calibration,
)

SCALE = LabelScaler(1.0, 7.0)


def correlated(n, rho, seed=0):
    """``[n]`` labels on 1-7 (around 4, as annotator means are) and raw
    predictions with exactly correlation rho."""
    rng = np.random.default_rng(seed)
    labels = np.clip(rng.normal(4.0, 0.9, n), 1.0, 7.0)
    noise = rng.normal(size=n)
    # remove from the noise its component along the labels, then mix
    z = (labels - labels.mean()) / labels.std()
    noise -= noise.mean() + np.mean(noise * z) * z
    noise /= noise.std()
    raw = rho * z + math.sqrt(1 - rho**2) * noise
    return labels, raw


def dev_set(n=400, seed=0):
    """The issue's shape: arousal and dominance learned, valence uncorrelated
    and pinned far below the 1-7 scale (raw -4.4 to -3.1)."""
    arousal, raw_arousal = correlated(n, 0.8, seed)
    dominance, raw_dominance = correlated(n, 0.6, seed + 1)
    valence, raw_valence = correlated(n, 0.0, seed + 2)
    raw_valence = -4.4 + 1.3 * (raw_valence - raw_valence.min()) / np.ptp(raw_valence)
    labels = np.stack([arousal, valence, dominance], axis=1)
    raw = np.stack(
        [0.3 * raw_arousal + 3.0, raw_valence, 0.5 * raw_dominance + 10.0], axis=1
    )
    return torch.from_numpy(raw), torch.from_numpy(labels)


def test_a_learned_attribute_comes_back_on_the_scale_with_ccc_at_least_raw():
    raw, labels = dev_set()
    calibration = fit_calibration(raw, labels)
    values, learned = calibration.apply(raw)
    raw_ccc, calibrated_ccc = ccc(raw, labels), ccc(values, labels)
    for index in (0, 2):  # arousal, dominance
        assert learned[index]
        # on the scale (serving still clips the rare value of the tails)
        assert SCALE.outside(values[:, index]).float().mean() < 0.01
    assert SCALE.outside(raw[:, 2]).all()  # raw dominance was off the scale
    for index in (0, 2):
        assert calibrated_ccc[index] >= raw_ccc[index]
        # moments matched: the calibrated CCC is the correlation
        assert values[:, index].mean() == pytest.approx(labels[:, index].mean())
        assert values[:, index].std(correction=0) == pytest.approx(
            labels[:, index].std(correction=0)
        )
        fitted = calibration.attributes[ATTRIBUTES[index]]
        assert calibrated_ccc[index] == pytest.approx(fitted.dev_correlation)
        assert fitted.dev_ccc_calibrated == pytest.approx(fitted.dev_correlation)
        assert fitted.dev_ccc_raw == pytest.approx(float(raw_ccc[index]))
    assert calibration.attributes["arousal"].dev_correlation == pytest.approx(0.8)


def test_an_unlearned_attribute_is_flagged_and_withheld_not_a_clipped_constant():
    raw, labels = dev_set()
    calibration = fit_calibration(raw, labels)
    assert calibration.not_learned() == ["valence"]
    # what serving did before: every clipped value is the scale's end
    assert torch.unique(SCALE.clip(raw[:, 1])).tolist() == [1.0]
    values, learned = calibration.apply(raw)
    assert learned.tolist() == [True, False, True]
    assert torch.isnan(values[:, 1]).all()
    assert torch.isfinite(values[:, [0, 2]]).all()
    # asked for anyway, the values are centred on the labels, not a constant
    shown, _ = calibration.apply(raw, withhold=False)
    assert shown[:, 1].mean() == pytest.approx(labels[:, 1].mean())
    assert shown[:, 1].std() > 0.5
    assert calibration.reliability()["valence"]["learned"] is False
    assert "| valence | no (withheld) |" in calibration.markdown()


def test_the_size_of_the_development_set_decides_a_weak_correlation():
    # rho = 0.2: noise on 40 utterances, a weak but real attribute on 4,000
    labels, raw = correlated(40, 0.2)
    small = fit_calibration(raw[:, None], labels[:, None], attributes=("valence",))
    assert small.attributes["valence"].p_value > 0.05
    assert small.not_learned() == ["valence"]
    labels, raw = correlated(4000, 0.2)
    large = fit_calibration(raw[:, None], labels[:, None], attributes=("valence",))
    assert large.attributes["valence"].p_value < 1e-6
    assert large.not_learned() == []
    # below the floor, however many utterances: not learned
    labels, raw = correlated(20000, MIN_CORRELATION / 2)
    floor = fit_calibration(raw[:, None], labels[:, None], attributes=("valence",))
    assert floor.attributes["valence"].p_value < 1e-6
    assert floor.not_learned() == ["valence"]


def test_a_negative_correlation_keeps_the_models_ordering_and_is_not_learned():
    labels, raw = correlated(500, -0.7)
    calibration = fit_calibration(raw[:, None], labels[:, None], attributes=("x",))
    fitted = calibration.attributes["x"]
    assert fitted.scale > 0
    assert fitted.dev_correlation == pytest.approx(-0.7)
    assert fitted.dev_ccc_calibrated == pytest.approx(-0.7)
    assert fitted.p_value > 0.99
    assert not fitted.learned


def test_constant_predictions_do_not_divide_by_zero():
    labels = torch.linspace(1, 7, 30)[:, None]
    raw = torch.full((30, 1), -3.5)
    calibration = fit_calibration(raw, labels, attributes=("valence",))
    fitted = calibration.attributes["valence"]
    assert math.isfinite(fitted.scale) and math.isfinite(fitted.shift)
    assert (fitted.dev_correlation, fitted.p_value, fitted.learned) == (
        0.0,
        None,
        False,
    )
    assert fitted.dev_ccc_raw == 0.0
    values, learned = calibration.apply(raw, withhold=False)
    assert values.unique().tolist() == pytest.approx([4.0])  # centred only
    assert not learned.item()


def test_unlabeled_rows_are_left_out():
    raw, labels = dev_set(200)
    with_unlabeled = torch.cat([raw, torch.full((50, 3), 100.0)])
    unlabeled = torch.full((50, 3), math.nan)
    unlabeled[:10, 0] = 4.0  # arousal labeled on ten of them
    labels_nan = torch.cat([labels, unlabeled])
    fitted = fit_calibration(with_unlabeled, labels_nan)
    reference = fit_calibration(raw, labels)
    assert fitted.attributes["valence"] == reference.attributes["valence"]
    assert fitted.attributes["dominance"].utterances == 200
    assert fitted.attributes["arousal"].utterances == 210


def test_bad_input_is_named():
    raw, labels = dev_set(50)
    with pytest.raises(ValueError, match=r"must both be \[N, 3\]"):
        fit_calibration(raw[:, :2], labels)
    raw[3, 1] = math.nan
    with pytest.raises(ValueError, match="calibration of valence: 1 development"):
        fit_calibration(raw, labels)
    with pytest.raises(ValueError, match="no labeled development utterance"):
        fit_calibration(raw[:, :1], torch.full((50, 1), math.nan), ("arousal",))
    calibration = fit_calibration(*dev_set(50))
    with pytest.raises(ValueError, match=r"3 attributes .* shape \(2, 2\)"):
        calibration.apply(torch.zeros(2, 2))


def test_it_survives_json_and_a_hyperpyyaml_file(tmp_path):
    raw, labels = dev_set()
    calibration = fit_calibration(raw, labels)
    assert Calibration.from_dict(json.loads(json.dumps(calibration.to_dict()))) == (
        calibration
    )
    # as an exported hyperparams.yaml would declare it
    entries = "\n".join(
        f"        {name}: {json.dumps(a.to_dict())}"
        for name, a in calibration.attributes.items()
    )
    yaml = (
        "calibration: !new:speechbrain_lora_ser.serving.calibration.Calibration\n"
        f"    attributes:\n{entries}\n"
        f"    min_correlation: {calibration.min_correlation}\n"
        f"    alpha: {calibration.alpha}\n"
    )
    loaded = load_hyperpyyaml(yaml)["calibration"]
    for name, fitted in calibration.attributes.items():
        # YAML's float parser may differ in the last bit
        assert loaded.attributes[name].to_dict() == pytest.approx(fitted.to_dict())
    batch = raw[:8].float()
    values, learned = loaded.apply(batch)
    expected, expected_learned = calibration.apply(batch)
    assert values.dtype == torch.float32
    assert torch.equal(learned, expected_learned)
    assert torch.allclose(values, expected, equal_nan=True)
    assert torch.isnan(values[:, 1]).all()


def test_an_attribute_calibration_refuses_a_non_finite_map():
    with pytest.raises(ValueError, match="must be finite"):
        AttributeCalibration(math.inf, 0.0, 0.0, 0.0, 0.0, None, 10, False)
    with pytest.raises(ValueError, match="lacks learned"):
        AttributeCalibration.from_dict(
            {"scale": 1.0, "shift": 0.0}
            | {k: 0 for k in ("dev_ccc_raw", "dev_ccc_calibrated", "dev_correlation")}
            | {"p_value": None, "utterances": 3}
        )


def test_a_run_says_in_its_log_which_attributes_it_did_not_learn(trained_ft_lora):
    with open(trained_ft_lora / "results.json") as handle:
        attributes = json.load(handle)["calibration"]["attributes"]
    log = (trained_ft_lora / "log.txt").read_text()
    not_learned = [name for name in ATTRIBUTES if not attributes[name]["learned"]]
    if not_learned:  # a one-epoch tiny run: the log says what is withheld
        assert f"BIIC-Podcast valid: {', '.join(not_learned)} not learned" in log
    else:
        assert " not learned (development correlation" not in log
