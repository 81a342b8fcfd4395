"""The service's limits and defaults (each a ``ser-serve`` flag)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Limits of one service.

    Example
    -------
    >>> Settings().max_upload_bytes
    20000000
    """

    max_upload_bytes: int = 20_000_000
    max_seconds: float = 600.0
    max_batch: int = 8
    max_wait_ms: float = 20.0
    max_queue: int = 64
    retry_after_seconds: int = 1
    live_sample_rate: int = 16000
    live_window_seconds: float | None = None  # None: the model's window
    live_hop_seconds: float | None = None  # None: the model's hop
