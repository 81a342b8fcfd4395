"""Shared fixtures: tiny real encoders saved as local folders."""

import pytest

from speechbrain_lora_ser.architectures import save_tiny_encoder


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory):
    return save_tiny_encoder(str(tmp_path_factory.mktemp("wavlm")), "wavlm")


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory):
    return save_tiny_encoder(str(tmp_path_factory.mktemp("hubert")), "hubert")


@pytest.fixture(params=["wavlm", "hubert"])
def tiny_encoder_folder(request, tiny_wavlm, tiny_hubert):
    return {"wavlm": tiny_wavlm, "hubert": tiny_hubert}[request.param]
