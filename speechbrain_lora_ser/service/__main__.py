"""``ser-serve --model FOLDER [--host 127.0.0.1] [--port 8000]``.

``--ray [--replicas N] [--address ADDR]`` serves the same app as a Ray Serve
application (``speechbrain_lora_ser.service.cluster``).
"""

import argparse
import contextlib
import signal
import sys
import time

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
    parser.add_argument(
        "--device", default=None, help="default: cpu (--ray: cuda when GPUs exist)"
    )
    parser.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16", "int8")
    )
    parser.add_argument(
        "--savedir",
        default=None,
        help="where the model is linked and an int8 encoder cached (default: a "
        "temporary folder, removed once the model is loaded)",
    )
    for name in ("max_upload_bytes", "max_batch", "max_queue"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("max_seconds", "max_wait_ms"):
        parser.add_argument(f"--{name}", type=float, default=getattr(defaults, name))
    for name in ("live_window_seconds", "live_hop_seconds"):
        parser.add_argument(f"--{name}", type=float, default=None)
    parser.add_argument(
        "--ray", action="store_true", help="serve on Ray Serve (replicas, nodes)"
    )
    parser.add_argument(
        "--replicas", type=int, default=None, help="default: one per GPU, else one"
    )
    parser.add_argument("--address", default=None, help="a Ray cluster (or local)")
    parser.add_argument("--num_cpus", type=int, default=None, help="local Ray CPUs")
    return parser.parse_args(argv)


def settings_of(args):
    """Return the ``Settings`` of parsed flags.

    Example
    -------
    >>> settings_of(parse_args(["--model", "m", "--max_batch", "4"])).max_batch
    4
    """
    return Settings(
        max_upload_bytes=args.max_upload_bytes,
        max_seconds=args.max_seconds,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        live_window_seconds=args.live_window_seconds,
        live_hop_seconds=args.live_hop_seconds,
    )


def main(argv=None):
    """Load the model and serve until Ctrl-C; returns the exit status."""
    args = parse_args(argv)
    if args.ray:
        return serve_on_ray(args)
    import uvicorn

    from speechbrain_lora_ser.service.app import create_app
    from speechbrain_lora_ser.serving.model_loading import load_serving_model

    try:
        model = load_serving_model(
            args.model, args.savedir, args.device or "cpu", args.precision
        )
    except (ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(model, settings_of(args)), host=args.host, port=args.port)
    return 0


def serve_on_ray(args):
    """Run the app on Ray Serve until Ctrl-C; returns the exit status."""
    import ray
    from ray import serve

    from speechbrain_lora_ser.service.cluster import deployment

    if args.precision == "int8" and args.device not in (None, "cpu"):
        print("error: int8 runs on the CPU; use bf16 on a GPU", file=sys.stderr)
        return 2
    ray.init(
        address=args.address,
        num_cpus=None if args.address else args.num_cpus,
        include_dashboard=False,
    )
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        gpus = ray.cluster_resources().get("GPU", 0)
        if args.device == "cpu" or args.precision == "int8":
            gpus = 0
        app = deployment(
            args.model, settings_of(args), args.replicas, gpus, args.precision
        )
        serve.run(app, name="ser", route_prefix="/")
        print(f"serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        serve.delete("ser")
        if not args.address:
            serve.shutdown()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
