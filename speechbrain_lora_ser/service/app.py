"""The FastAPI application: ``/health``, ``/predict``, ``/stream`` and the page."""

import contextlib
import os
import socket
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
#: The process that answers (``X-SER-Replica``, ``/health``): host and pid.
REPLICA = f"{socket.gethostname()}:{os.getpid()}"


def create_app(model, settings=None, batcher=Batcher):
    """Build the service around a loaded ``EncoderRegressor``.

    Arguments
    ---------
    model : EncoderRegressor
        The model every request is rated with.
    settings : speechbrain_lora_ser.service.settings.Settings, optional
        Limits and live-audio windows (default: ``Settings()``).
    batcher : callable, optional
        ``batcher(model, settings)`` makes what rates requests together
        (``submit``, ``start``, ``stop``, ``waiting``, ``batches``,
        ``largest_batch``): our asyncio ``Batcher`` (default), or
        ``ServeBatcher`` (Ray Serve's ``@serve.batch``) in a Ray Serve replica.

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
        title="speechbrain-lora-ser",
        lifespan=_lifespan(batcher, model, settings, state),
    )
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.exception_handler(QueueFull)
    async def busy(request, error):
        headers = {"Retry-After": str(settings.retry_after_seconds)}
        return JSONResponse({"detail": f"busy: {error}"}, 503, headers=headers)

    @app.middleware("http")
    async def name_replica(request, call_next):  # which process answered
        response = await call_next(request)
        response.headers["X-SER-Replica"] = REPLICA
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return (STATIC / "index.html").read_text(encoding="utf-8")

    _add_health(app, model, settings, state)
    _add_predict(app, settings, state)
    _add_stream(app, model, settings, state)
    return app


def _lifespan(batcher, model, settings, state):
    """Return the app's lifespan: a running batcher and a folder for uploads."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["batcher"] = batcher(model, settings)
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
            largest_batch=state["batcher"].largest_batch,
            replica=REPLICA,
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
