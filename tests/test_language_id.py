"""How a bank pools a language-ID model's labels and decides, over any input."""

import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechbrain_lora_ser.bank.bank_builder import main
from speechbrain_lora_ser.bank.language_id import (
    UNKNOWN,
    PretrainedLanguageId,
    bank_probabilities,
    decide,
)
from speechbrain_lora_ser.bank.language_id_training import GUARD_RANGE, choose_guard
from speechbrain_lora_ser.synthetic.language_id_model import save_language_id_model


@st.composite
def pooling_cases(draw):
    """Label probabilities, each label's bank language, maybe a router."""
    count = draw(st.integers(1, 4))
    labels = draw(st.integers(1, 8))
    rows = draw(st.integers(1, 5))
    mapping = draw(
        st.lists(st.integers(-1, count - 1), min_size=labels, max_size=labels)
    )
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    probabilities = (torch.randn(rows, labels, generator=generator) * scale).softmax(-1)
    router = None
    if draw(st.booleans()):
        router = torch.rand(rows, count + 1, generator=generator)
        router[:, -1] *= draw(st.sampled_from([0.0, 1.0]))
        router = router / router.sum(-1, keepdim=True)
    return probabilities, mapping, count, router


@settings(max_examples=200, deadline=None)
@given(pooling_cases(), st.floats(0.0, 1.01))
def test_pooled_probabilities_are_a_distribution_and_decisions_follow_them(case, guard):
    probabilities, mapping, count, router = case
    pooled = bank_probabilities(probabilities, mapping, count, router)
    assert pooled.shape == (probabilities.shape[0], count + 1)
    assert (pooled >= 0).all()
    assert torch.allclose(pooled.sum(-1), torch.ones(pooled.shape[0]), atol=1e-5)
    # a mapped language's probability is the sum over its labels, exactly
    for language in set(mapping) - {-1}:
        labels = [i for i, m in enumerate(mapping) if m == language]
        assert torch.allclose(pooled[:, language], probabilities[:, labels].sum(-1))
    languages = [f"l{i}" for i in range(count)]
    routes, names, chosen, notes = decide(pooled, languages, guard)
    for row, (route, name, note) in enumerate(zip(routes, names, notes, strict=True)):
        best = int(pooled[row, :count].argmax())
        if name == UNKNOWN:  # the base model, and a note saying why
            assert route == 0 and note is not None
            assert pooled[row, count] > chosen[row] or chosen[row] < guard
        else:
            assert name == languages[route] and route == best and note is None
            assert chosen[row] >= guard and pooled[row, count] <= chosen[row]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--router_epochs", "3"], "--router_epochs: only with --router ecapa"),
        (["--router_size", "small"], "--router_size: only with --router ecapa"),
        (
            ["--router", "ecapa", "--router_epochs", "0"],
            "--router_epochs 0: at least 1",
        ),
        (["--router", "ecapa", "--router_background", "nowhere"], "not a folder"),
    ],
)
def test_ser_bank_refuses_router_options_that_would_be_ignored(
    tmp_path, capsys, options, message
):
    """A new user's mistakes: each names the option, before any work."""
    base = tmp_path / "run"
    base.mkdir()
    (base / "results.json").write_text("{}")
    status = main(
        ["build", "--base", str(base), "--output", str(tmp_path / "b"), *options]
    )
    assert status == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@st.composite
def development_outputs(draw):
    """Calibrated probabilities of development utterances and their labels."""
    labels = draw(st.integers(2, 5))
    rows = draw(st.integers(1, 60))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0, 30.0]))
    probabilities = (torch.randn(rows, labels, generator=generator) * scale).softmax(-1)
    targets = torch.randint(0, labels, (rows,), generator=generator)
    known = draw(st.integers(1, labels))
    return probabilities, targets, known


@settings(max_examples=200, deadline=None)
@given(development_outputs(), st.sampled_from([0.5, 0.9, 0.95, 1.0]))
def test_the_chosen_guard_keeps_its_share_of_right_routes(case, keeps):
    """``choose_guard`` stays in range and serves the share of right routes."""
    probabilities, targets, known = case
    guard = choose_guard(probabilities, targets, known, keeps)
    low, high = GUARD_RANGE
    assert low <= guard <= high
    best, answer = probabilities.max(-1)
    right = best[(answer == targets) & (targets < known)]
    if right.numel() == 0:
        assert guard == high  # nothing to choose on: the cepstral default
        return
    kept = float((right >= guard - 1e-4).double().mean())
    slack = 1.0 / right.numel() + 1e-9  # a quantile of a few utterances
    served_above = float((right > guard + 1e-4).double().mean())
    if guard > low:  # not raised to the floor: the share asked for, or more
        assert kept >= keeps - slack
    if guard < high:  # not lowered to the cap: no higher guard serves as many
        assert served_above <= keeps + slack


def test_a_files_language_does_not_depend_on_its_batch_and_loading_writes_nothing(
    tmp_path,
):
    """Each utterance is heard alone, cut to its length; the folder is read only."""
    folder = save_language_id_model(str(tmp_path / "lid"), ["en", "zh", "(other)"])
    before = sorted(os.listdir(folder))
    identifier = PretrainedLanguageId(
        folder, {"en": ["en"], "zh": ["zh"]}, ["en", "zh"]
    )
    assert sorted(os.listdir(folder)) == before  # nothing linked or copied in
    generator = torch.Generator().manual_seed(0)
    short, long = torch.randn(8000, generator=generator), torch.randn(24000)
    batch = torch.zeros(2, 24000)
    batch[0, :8000], batch[1] = short, long
    together, heard = identifier(batch, torch.tensor([8000 / 24000, 1.0]))
    alone = [identifier(w.unsqueeze(0), torch.ones(1))[0] for w in (short, long)]
    assert torch.allclose(together, torch.cat(alone), atol=1e-6)
    assert len(heard) == 2


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.01, 30.0), st.floats(0.0, 1.0))
def test_the_fitted_temperature_is_finite_and_the_best_of_its_range(
    seed, scale, share_right
):
    """Development outputs of any sharpness, from a barely trained identifier
    (near uniform: the unbounded LBFGS fit gave NaN or 1e-9 on 21 of 200 such
    sets) to a confident one."""
    from speechbrain_lora_ser.bank.language_id_training import _fit_temperature

    generator = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 4, (72,), generator=generator)
    logits = torch.randn(72, 4, generator=generator) * scale
    right = torch.rand(72, generator=generator) < share_right
    logits[torch.arange(72)[right], targets[right]] += 3 * scale
    outputs = torch.log_softmax(logits, -1)
    temperature = _fit_temperature(outputs, targets)
    assert 0.01 <= temperature <= 100.0

    def loss(value):
        return float(torch.nn.functional.cross_entropy(outputs / value, targets))

    grid = [0.01 * 1.2**step for step in range(51)]  # 0.01 to about 91
    assert loss(temperature) <= min(loss(value) for value in grid) + 1e-3
