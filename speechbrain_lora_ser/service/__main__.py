"""``ser-serve --model FOLDER [--host 127.0.0.1] [--port 8000]``."""

import argparse
import sys

from speechbrain_lora_ser.service.settings import Settings


def parse_args(argv=None):
    """Parse the command line.

    Example
    -------
    >>> parse_args(["--model", "m"]).port
    8000
    """
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="ser-serve", description="Serve a model over HTTP and a page."
    )
    parser.add_argument("--model", required=True, help="an exported folder or bank")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16", "int8")
    )
    parser.add_argument("--savedir", default=None, help="where the model is linked")
    for name in ("max_upload_bytes", "max_batch", "max_queue"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("max_seconds", "max_wait_ms"):
        parser.add_argument(f"--{name}", type=float, default=getattr(defaults, name))
    for name in ("live_window_seconds", "live_hop_seconds"):
        parser.add_argument(f"--{name}", type=float, default=None)
    return parser.parse_args(argv)


def main(argv=None):
    """Load the model and serve until Ctrl-C; returns the exit status."""
    args = parse_args(argv)
    import uvicorn

    from speechbrain_lora_ser.service.app import create_app
    from speechbrain_lora_ser.service.loading import load_model

    try:
        model = load_model(args.model, args.savedir, args.device, args.precision)
    except (ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = Settings(
        max_upload_bytes=args.max_upload_bytes,
        max_seconds=args.max_seconds,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        live_window_seconds=args.live_window_seconds,
        live_hop_seconds=args.live_hop_seconds,
    )
    uvicorn.run(create_app(model, settings), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
