"""Load a model the way ``ser-predict`` does (folder or bank, precision).

To be unified with ``speechbrain_lora_ser.serving.predict.main``, which still
inlines the same steps.
"""

import os
import tempfile


def load_model(source, savedir=None, device="cpu", precision="fp32"):
    """Load an ``EncoderRegressor`` from an exported folder or an adapter bank.

    Arguments
    ---------
    source : str
        The exported inference folder (or bank).
    savedir : str, optional
        Where the model is linked (default: a new temporary folder).
    device : str
    precision : str
        ``fp32``, ``bf16``, ``fp16`` (autocast on a GPU) or ``int8``
        (the encoder quantized with ONNX Runtime, CPU only).

    Returns
    -------
    EncoderRegressor

    Example
    -------
    >>> load_model("folder", device="cuda", precision="int8")
    Traceback (most recent call last):
    ...
    ValueError: int8 runs on the CPU; use bf16 on a GPU
    """
    if precision == "int8" and device != "cpu":
        raise ValueError("int8 runs on the CPU; use bf16 on a GPU")
    from speechbrain_lora_ser.serving.inference import EncoderRegressor

    savedir = savedir or tempfile.mkdtemp(prefix="ser_model_")
    model = EncoderRegressor.from_hparams(
        source=source,
        savedir=savedir,
        run_opts={
            "device": device,
            "precision": "fp32" if precision == "int8" else precision,
        },
    )
    if precision == "int8":
        from speechbrain_lora_ser.serving.quantization import quantize_int8

        quantize_int8(model, cache_dir=os.path.join(savedir, "int8"))
    return model
