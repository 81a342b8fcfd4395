"""An exported model is a model repository SpeechBrain users can share.

Loaded the way SpeechBrain loads a model from the Hugging Face Hub: the
repository's files sit in a Hugging Face cache (as a download leaves them)
and ``HF_HUB_OFFLINE=1``, so ``from_hparams(source="<org>/<name>")`` and
``foreign_class`` go through SpeechBrain's own fetching (``hf_hub_download``
on the cache) exactly as after a download. The model card's snippets run as
written.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from speechbrain_lora_ser.export.model_folder import publish

REPO = "test-org/ser-tiny"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def populate_cache(cache, repo_id, folder):
    """Lay out ``folder`` as huggingface_hub's cache holds a downloaded repo."""
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    snapshot = os.path.join(repo, "snapshots", REVISION)
    shutil.copytree(folder, snapshot)
    os.makedirs(os.path.join(repo, "refs"))
    with open(os.path.join(repo, "refs", "main"), "w") as handle:
        handle.write(REVISION)


@pytest.fixture(scope="module")
def hub(trained_ft_lora, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    published = publish(trained_ft_lora / "inference", REPO, str(root / "upload"))
    populate_cache(str(root / "cache"), REPO, published)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(root / "cache"))
    return root, published, env


def card_snippets(folder):
    with open(os.path.join(folder, "README.md")) as handle:
        return re.findall(r"```python\n(.*?)```", handle.read(), flags=re.S)


def run_python(code, cwd, env):
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_model_card_snippet_loads_the_repository_offline(hub, recipe_data):
    root, published, env = hub
    snippets = card_snippets(published)
    assert len(snippets) == 2 and f'source="{REPO}"' in snippets[0]
    work = root / "user"
    work.mkdir()
    audio = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[0]
    shutil.copy(audio, work / "speech.wav")
    printed = run_python(snippets[0], str(work), env)
    assert "'arousal':" in printed and "'error'" not in printed
    # what SpeechBrain fetched into savedir came from the cache
    fetched = work / "pretrained_models" / "ser-tiny"
    assert sorted(os.listdir(fetched)) == ["head.ckpt", "hyperparams.yaml", "ssl.ckpt"]
    assert str(root / "cache") in os.path.realpath(fetched / "ssl.ckpt")


def test_foreign_class_loads_the_repository_offline(hub, recipe_data):
    root, published, env = hub
    snippet = card_snippets(published)[1]
    audio = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    code = (
        snippet
        + f"\nresult = model.predict_file({str(audio)!r})"
        + "\nprint(type(model).__name__, sorted(result))"
    )
    printed = run_python(code, str(root), env)
    assert "EncoderRegressor" in printed and "'valence'" in printed


def test_hub_predictions_equal_the_local_folder(hub, trained_ft_lora, recipe_data):
    root, _, env = hub
    audio = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    code = f"""
from speechbrain_lora_ser import EncoderRegressor
hub = EncoderRegressor.from_hparams(source={REPO!r}, savedir={str(root / "a")!r})
local = EncoderRegressor.from_hparams(
    source={str(trained_ft_lora / "inference")!r}, savedir={str(root / "b")!r})
a = hub.predict_file({str(audio)!r}, clip=False, calibrate=False)
b = local.predict_file({str(audio)!r}, clip=False, calibrate=False)
print(max(abs(a[k] - b[k]) for k in ("arousal", "valence", "dominance")))
"""
    assert float(run_python(code, str(root), env).split()[-1]) == 0.0


def test_an_unknown_repository_offline_is_an_error_not_a_download(hub):
    root, _, env = hub
    code = """
from speechbrain_lora_ser import EncoderRegressor
EncoderRegressor.from_hparams(source="test-org/absent", savedir="x")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "offline" in (result.stderr + result.stdout).lower()
