"""The response models: the OpenAPI schema at ``/openapi.json``."""

from pydantic import BaseModel


class Window(BaseModel):
    """One window of a timeline (seconds from the start of the file)."""

    start: float
    end: float
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    speech_seconds: float | None = None
    warning: str | None = None


class Prediction(BaseModel):
    """The fields of ``EncoderRegressor.predict_file``."""

    file: str
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None
    label_low: float | None = None
    label_high: float | None = None
    language: str | None = None
    language_probability: float | None = None
    not_learned: list[str] = []
    out_of_range: list[str] = []
    warning: str | None = None
    duration: float | None = None
    windows: list[Window] | None = None


class Health(BaseModel):
    """``GET /health``."""

    status: str
    waiting: int
    batches: int
    largest_batch: int
    replica: str
    window_seconds: float
    hop_seconds: float
    live_window_seconds: float
    live_hop_seconds: float
    live_sample_rate: int
