"""The language router: routes held-out speech by language, whatever the channel."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import soundfile
import torch
import torchaudio.functional as AF

from speechbrain_lora_ser.bank.routing import (
    DEFAULT_FEATURES,
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    LanguageRouter,
    RouterFeatures,
)
from speechbrain_lora_ser.bank.routing_training import (
    add_language,
    add_noise,
    augmented_features,
    batch_features,
    compare_routes,
    fit_router,
    gain_and_clip,
    reliability,
    reverberate,
    telephone_band,
)
from speechbrain_lora_ser.demo import recipe_layouts
from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

from conftest import ROOT


def _benchmark_module(name):
    """Import ``benchmarks/<name>.py`` (measuring code, not in the package)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "benchmarks", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The encoder-internal router features the benchmark measures.
routing_taps = _benchmark_module("routing_taps")
FeatureTap, base_weights = routing_taps.FeatureTap, routing_taps.base_weights

LANGUAGES = ("english", "mandarin", "german")
LAYOUT = {
    "english": "MSP-Podcast",
    "mandarin": "BIIC-Podcast",
    "german": "BIIC-Podcast",
}
SIZES = (300, 50, 100)  # train, dev (seen seeds); test (held-out seeds)
COPIES = 4

CONDITIONS = {
    "clean": lambda wav, g: wav,
    "telephone band": lambda wav, g: telephone_band(wav),
    "+6 dB clipped, noise at 20 dB SNR": lambda wav, g: add_noise(
        gain_and_clip(wav, 6.0), 20.0, g
    ),
    "-20 dB": lambda wav, g: AF.gain(wav, -20.0),
}
#: Channels only the calibration test uses (more misrouted utterances to see).
HARDER = {
    "reverberation, RT60 0.5 s": lambda wav, g: reverberate(wav, 0.5, g),
    "1.5-kHz low-pass": lambda wav, g: AF.lowpass_biquad(wav, 16000, 1500.0),
}


def read_waves(folder, layout):
    split_of = {n: split for split, names in layout.partitions.items() for n in names}
    waves = {"train": [], "valid": [], "test": []}
    with open(os.path.join(folder, layout.label_files[0]), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = os.path.join(folder, layout.audio_folder, row[layout.id_column])
            wav, _ = soundfile.read(path, dtype="float32")
            waves[split_of[row[layout.partition_column]]].append(torch.from_numpy(wav))
    return waves


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Per language: train and dev utterances (seeds 300+), test (seeds 400+)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("routing")
    layouts = recipe_layouts()
    data = {}
    for index, language in enumerate(LANGUAGES):
        layout = layouts[LAYOUT[language]]
        seen = write_demo_corpus(
            str(root / f"{language}_seen"),
            language,
            layout,
            (SIZES[0], SIZES[1], 0),
            seed=300 + index,
        )
        held_out = write_demo_corpus(
            str(root / f"{language}_held_out"),
            language,
            layout,
            (0, 0, SIZES[2]),
            seed=400 + index,
        )
        waves = read_waves(seen, layout)
        data[language] = {
            "train": waves["train"],
            "valid": waves["valid"],
            "test": read_waves(held_out, layout)["test"],
        }
    encoder = SSLEncoder(save_tiny_encoder(str(root / "encoder")), freeze=True)
    return data, encoder.eval()


@pytest.fixture(scope="module")
def features(corpora):
    """The default features: augmented train/dev, and each held-out condition."""
    data, encoder = corpora
    tap = RouterFeatures(encoder, **DEFAULT_FEATURES)
    train = augmented_features(
        tap, [data[lang]["train"] for lang in LANGUAGES], COPIES, 1
    )
    valid = augmented_features(
        tap, [data[lang]["valid"] for lang in LANGUAGES], COPIES, 2
    )
    wavs = [w for lang in LANGUAGES for w in data[lang]["test"]]
    labels = torch.tensor(
        [i for i, lang in enumerate(LANGUAGES) for _ in data[lang]["test"]]
    )
    test = {}
    for name, channel in {**CONDITIONS, **HARDER}.items():
        channeled = [
            channel(w, torch.Generator().manual_seed(i)) for i, w in enumerate(wavs)
        ]
        test[name] = batch_features(tap, channeled)
    return train, valid, test, labels, tap.config


@pytest.fixture(scope="module")
def router(features):
    train, valid, _, _, config = features
    return fit_router(*train, *valid, features=config, languages=len(LANGUAGES))[0]


def accuracy_per_language(router, features, labels):
    routes = router(features).argmax(-1)
    return {
        # in double precision: 95 of 100 is 0.95, not float32's 0.9499999
        language: float((routes[labels == i] == i).double().mean())
        for i, language in enumerate(LANGUAGES)
    }


def test_held_out_speech_is_routed_to_its_language(router, features):
    _, _, test, labels, _ = features
    accuracy = accuracy_per_language(router, test["clean"], labels)
    assert min(accuracy.values()) >= 0.99, accuracy


@pytest.mark.parametrize("condition", [c for c in CONDITIONS if c != "clean"])
def test_routing_survives_another_channel(router, features, condition):
    _, _, test, labels, _ = features
    accuracy = accuracy_per_language(router, test[condition], labels)
    assert min(accuracy.values()) >= 0.95, (condition, accuracy)


def test_confidence_is_calibrated_and_the_threshold_catches_misroutes(router, features):
    _, _, test, labels, _ = features
    with torch.no_grad():
        probabilities = torch.cat([router(features) for features in test.values()])
    everything = labels.repeat(len(test))
    _, ece = reliability(probabilities, everything, bins=6)
    # 0.030 over the benchmark's twelve channels (README); 0.02-0.033 here
    assert ece <= 0.05, ece
    top, routes = probabilities.max(-1)
    wrong = routes != everything
    assert wrong.float().mean() <= 0.03, wrong.sum()  # misroutes are rare
    # those there are mostly fall under the threshold (to the base model)
    caught = (top[wrong] < DEFAULT_MIN_LANGUAGE_PROBABILITY).float()
    assert not wrong.any() or caught.mean() >= 0.5, top[wrong]
    # at the cost of few correct routes
    lost = (top[~wrong] < DEFAULT_MIN_LANGUAGE_PROBABILITY).float().mean()
    assert lost <= 0.05, lost


def test_a_router_trained_on_clean_audio_only_is_not_enough(features):
    """The channel augmentation is what makes the difference (same features)."""
    train, valid, test, labels, config = features
    clean_train = torch.arange(len(train[1])) % (1 + COPIES) == 0
    clean_valid = torch.arange(len(valid[1])) % (1 + COPIES) == 0
    clean_router, _ = fit_router(
        train[0][clean_train],
        train[1][clean_train],
        valid[0][clean_valid],
        valid[1][clean_valid],
        config,
    )
    worst = min(
        min(accuracy_per_language(clean_router, test[c], labels).values())
        for c in CONDITIONS
    )
    assert worst < 0.95


def test_adding_a_language_keeps_the_earlier_routes(router, features):
    train, valid, test, labels, config = features
    earlier_train = train[1] < 2
    earlier_valid = valid[1] < 2
    two, _ = fit_router(
        train[0][earlier_train],
        train[1][earlier_train],
        valid[0][earlier_valid],
        valid[1][earlier_valid],
        config,
    )
    three, _ = add_language(two, *train, *valid)
    for condition in CONDITIONS:
        features = test[condition]
        # the earlier languages' logits are exactly the same ...
        assert torch.equal(three.logits(features)[:, :2], two.logits(features))
        # ... so a route changes only where the new language wins, and the
        # report names exactly those utterances
        earlier = labels < 2
        names = [f"utt{i}" for i in range(int(earlier.sum()))]
        changes = compare_routes(
            two,
            three,
            features[earlier],
            names,
            list(LANGUAGES),
            min_probability=DEFAULT_MIN_LANGUAGE_PROBABILITY,
        )
        before, _ = two.route(features[earlier], DEFAULT_MIN_LANGUAGE_PROBABILITY)
        after, _ = three.route(features[earlier], DEFAULT_MIN_LANGUAGE_PROBABILITY)
        changed = [names[i] for i in torch.nonzero(before != after).flatten()]
        assert [c["utterance"] for c in changes] == changed
        assert all(c["after"] in ("german", "english") for c in changes)
        # eSpeak NG's output depends on what the process synthesised before
        # (the same sentence differs call to call), so the corpora, and this
        # count, change with the tests run before in the worker: 5 to 15 of
        # 200 were measured under the clipping with noise
        assert len(changes) <= 0.1 * len(names), (condition, changes)
        accuracy = accuracy_per_language(three, features, labels)
        assert min(accuracy.values()) >= 0.95, (condition, accuracy)


def test_features_do_not_depend_on_the_batch(corpora):
    data, encoder = corpora
    wavs = [data["english"]["test"][0], data["mandarin"]["test"][0]]
    wavs = [wavs[0][:20000], wavs[1]]
    for config in ({"source": s} for s in ("cepstra", "log_mel", "conv_energy", "cnn")):
        tap = FeatureTap(encoder, **config)
        alone = torch.cat([tap(w[None], torch.ones(1)) for w in wavs])
        together = batch_features(tap, wavs, batch_size=2)
        tap.remove()
        assert torch.allclose(alone, together, atol=1e-4), config
    tap = FeatureTap(encoder, "layer", layer=1)
    alone = torch.cat([tap(w[None], torch.ones(1)) for w in wavs])
    together = batch_features(tap, wavs, batch_size=2)
    assert torch.allclose(alone, together, atol=1e-4)
    # several taps in one pass (the benchmark's TapSet): each as alone
    cnn = FeatureTap(encoder, "cnn")
    layer, convolution = batch_features(routing_taps.TapSet([tap, cnn]), wavs)
    assert torch.allclose(layer, together, atol=1e-4)
    assert torch.allclose(convolution, batch_features(cnn, wavs), atol=1e-4)
    tap.remove()
    cnn.remove()


def test_the_layer_features_read_the_base_weights_before_the_adapters_run(
    tmp_path,
):
    from speechbrain_lora_ser.modeling.lora import add_lora, lora_config

    encoder = SSLEncoder(save_tiny_encoder(str(tmp_path / "enc")), freeze=True).eval()
    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    lens = torch.tensor([1.0, 0.7])
    tap = FeatureTap(encoder, "layer", layer=1)
    plain = tap(wav, lens)
    add_lora(encoder.model, lora_config(rank=2, alpha=4), adapter_name="other")
    for name, parameter in encoder.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)
    encoder.eval()  # the adapters' dropout too
    with torch.no_grad():
        adapted, _ = encoder(wav, lens)
        with base_weights(encoder.model):
            base, _ = encoder(wav, lens)
    assert not torch.allclose(adapted, base, atol=1e-3)  # the adapter acts
    # the tap's features are the base encoder's, computed inside the pass
    # before the first (adapted) transformer layer runs
    events = []
    tap.on_features = lambda f: events.append(("features", f))
    first = encoder.model.encoder.layers[0]
    handle = first.register_forward_pre_hook(
        lambda *a: events.append(("base pass" if tap.in_base_pass else "adapted",))
    )
    with torch.no_grad():
        output, _ = encoder(wav, lens)
    handle.remove()
    assert [e[0] for e in events] == ["base pass", "features", "adapted"]
    assert torch.allclose(events[1][1], plain, atol=1e-5)
    assert torch.allclose(output, adapted, atol=1e-6)  # the pass still adapts


def test_a_router_rebuilds_from_its_config_and_state():
    router = LanguageRouter(6, 3, {"source": "cepstra"}, hidden=4)
    router.mean.fill_(0.5)
    router.temperature.fill_(2.0)
    copy = LanguageRouter(**router.config)
    copy.load_state_dict(router.state_dict())
    features = torch.randn(4, 6)
    assert torch.equal(copy(features), router(features))


def test_unknown_features_are_refused_with_the_choices(corpora):
    _, encoder = corpora
    with pytest.raises(ValueError, match="cepstra"):
        FeatureTap(encoder, "mfcc")
    with pytest.raises(ValueError, match="layers 1-2"):
        FeatureTap(encoder, "layer", layer=5)


def test_the_benchmark_runs_and_prints_its_tables(tmp_path):
    """A small run of benchmarks/routing_robustness.py (figures not judged)."""
    output = tmp_path / "routing.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "routing_robustness.py"),
        "--encoders",
        "tiny-wavlm",
        "--sizes",
        "6",
        "3",
        "4",
        "--copies",
        "1",
        "--layers",
        "1",
        "--repeats",
        "1",
        "--output",
        str(output),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for line in (
        "| cepstra/augmented/MLP 16 |",
        "| conv_energy/clean/MLP 16 |",
        "| layer1/augmented/MLP 16 |",
        "reliability of the top probability",
        "## cost on tiny-wavlm",
    ):
        assert line in result.stdout, result.stdout
    report = json.loads(output.read_text())
    assert set(report["cost"]["tiny-wavlm"]) == {
        "cepstra",
        "log_mel",
        "conv_energy",
        "cnn",
        "layer1",
    }


def test_the_banks_direct_features_equal_the_measured_tap(tiny_wavlm):
    """What a bank serves with is what the benchmark measured (one pass)."""
    encoder = SSLEncoder(tiny_wavlm).eval()
    wavs = torch.randn(3, 20000)
    lens = torch.tensor([1.0, 0.6, 0.35])
    for source in ("cepstra", "log_mel"):
        direct = RouterFeatures(encoder, source)(wavs, lens)
        tap = FeatureTap(encoder, source)
        tapped = tap(wavs, lens)
        tap.remove()
        assert torch.allclose(direct, tapped, atol=1e-5), source
    with pytest.raises(ValueError, match="waveform features"):
        RouterFeatures(encoder, "cnn")
