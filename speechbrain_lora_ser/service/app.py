"""The FastAPI application: ``/health``, ``/predict``, ``/stream`` and the page."""

import contextlib
import os
import tempfile
from importlib.resources import files
from typing import Annotated

from fastapi import FastAPI, File, Form, HTTPException, UploadFile, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect

from speechbrain_lora_ser.service.batching import Batcher, QueueFull
from speechbrain_lora_ser.service.live import LiveWindow, rate_live
from speechbrain_lora_ser.service.schema import Health, Prediction
from speechbrain_lora_ser.service.settings import Settings
from speechbrain_lora_ser.service.uploads import UploadProblem, save_upload

STATIC = files("speechbrain_lora_ser.service") / "static"


def create_app(model, settings=None):
    """Build the service around a loaded ``EncoderRegressor``.

    Arguments
    ---------
    model : EncoderRegressor
        The model every request is rated with.
    settings : speechbrain_lora_ser.service.settings.Settings, optional
        Limits and live-audio windows (default: ``Settings()``).

    Returns
    -------
    fastapi.FastAPI
        The page at ``/``, ``GET /health``, ``POST /predict`` and the
        ``/stream`` WebSocket.

    Example
    -------
    >>> create_app(None).title
    'speechbrain-lora-ser'
    """
    settings = settings or Settings()
    state = {}  # the batcher and the upload folder, while the service runs
    app = FastAPI(
        title="speechbrain-lora-ser", lifespan=_lifespan(model, settings, state)
    )
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.exception_handler(QueueFull)
    async def busy(request, error):
        headers = {"Retry-After": str(settings.retry_after_seconds)}
        return JSONResponse({"detail": f"busy: {error}"}, 503, headers=headers)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return (STATIC / "index.html").read_text(encoding="utf-8")

    _add_health(app, model, settings, state)
    _add_predict(app, settings, state)
    _add_stream(app, model, settings, state)
    return app


def _lifespan(model, settings, state):
    """Return the app's lifespan: a running batcher and a folder for uploads."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["batcher"] = Batcher(model, settings)
        state["batcher"].start()
        with tempfile.TemporaryDirectory(prefix="ser_serve_") as folder:
            state["folder"] = folder
            yield
            await state["batcher"].stop()

    return lifespan


def live_seconds(model, settings):
    """Return the live window and hop: the settings', else the model's.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(
    ...     hparams=SimpleNamespace(window_seconds=10.0, hop_seconds=5.0))
    >>> live_seconds(model, Settings(live_hop_seconds=1.0))
    (10.0, 1.0)
    """
    return (
        settings.live_window_seconds or model.hparams.window_seconds,
        settings.live_hop_seconds or model.hparams.hop_seconds,
    )


def _add_health(app, model, settings, state):
    """Add ``GET /health``: the queue, the batches and the window lengths."""

    @app.get("/health", response_model=Health)
    async def health():
        window_seconds, hop_seconds = live_seconds(model, settings)
        return Health(
            status="ok",
            waiting=state["batcher"].waiting,
            batches=state["batcher"].batches,
            window_seconds=model.hparams.window_seconds,
            hop_seconds=model.hparams.hop_seconds,
            live_window_seconds=window_seconds,
            live_hop_seconds=hop_seconds,
            live_sample_rate=settings.live_sample_rate,
        )


def _add_predict(app, settings, state):
    """Add ``POST /predict``: an uploaded file rated through the batcher."""

    @app.post(
        "/predict",
        response_model=Prediction,
        response_model_exclude_none=False,
        responses={413: {}, 422: {}, 503: {}},
    )
    async def predict(
        file: Annotated[UploadFile, File()],
        timeline: Annotated[bool, Form()] = False,
        language: Annotated[str | None, Form()] = None,
        uncalibrated: Annotated[bool, Form()] = False,
    ):
        """Rate an audio file: the fields of ``predict_file`` (and its windows)."""
        try:
            path = await save_upload(file, settings, state["folder"])
        except UploadProblem as problem:
            raise HTTPException(problem.status, problem.message) from None
        try:
            row = await state["batcher"].submit(
                path, language=language or None, calibrate=not uncalibrated
            )
        except ValueError as error:  # e.g. a language the bank does not have
            raise HTTPException(422, str(error)) from None
        finally:
            os.remove(path)
        if row["error"]:
            name = os.path.basename(file.filename or "upload")
            raise HTTPException(422, f"{name}: {row['error'].split(': ', 1)[-1]}")
        row["file"] = file.filename or "upload"
        if not timeline:
            row["windows"] = None
        return row


def _add_stream(app, model, settings, state):
    """Add the ``/stream`` WebSocket: live PCM in, one message per hop out."""

    @app.websocket("/stream")
    async def stream(
        socket: WebSocket, language: str | None = None, uncalibrated: bool = False
    ):
        """Live 16-bit PCM (16 kHz mono): one JSON message per hop."""
        await socket.accept()
        live = LiveWindow(settings.live_sample_rate, *live_seconds(model, settings))
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                chunk = await socket.receive_bytes()
                try:
                    due = live.push(chunk)
                except ValueError as error:
                    await socket.close(code=1003, reason=str(error))
                    return
                if due:
                    message = await _live_message(
                        state, live, language, calibrate=not uncalibrated
                    )
                    await socket.send_json(message)


async def _live_message(state, live, language, calibrate):
    """Rate the live window through the batcher; a busy queue is a message too."""
    try:
        return await rate_live(
            batcher=state["batcher"],
            live=live,
            folder=state["folder"],
            language=language,
            calibrate=calibrate,
        )
    except QueueFull as error:
        return {"error": f"busy: {error}"}
