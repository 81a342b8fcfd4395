r"""Load on ``ser-serve``: batched against unbatched, memory, live latency.

> python benchmarks/service_load.py --model INFERENCE_FOLDER --audio speech.wav \
>     [--clients 8] [--requests 200] [--rss_requests 1000] [--precision int8]
>     [--live_only] [--hops 10]

Starts ``ser-serve`` on a free 127.0.0.1 port twice (``--max_batch 1``: each
request alone; ``--max_batch 8``: concurrent requests in one forward pass),
posts ``--requests`` files from ``--clients`` threads, and prints requests/s,
p50/p95 latency and errors. Then the server's RSS before and after
``--rss_requests`` requests, and the live stream's latency: from the end of
a hop (its last chunk sent) to its values arriving (``--live_only``: that
alone, e.g. for ``--precision int8`` against ``fp32``).
"""

import argparse
import asyncio
import concurrent.futures
import json
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import soundfile
import websockets

ATTRIBUTES = ("arousal", "valence", "dominance")


def free_port():
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, max_batch):
    """Start ser-serve; wait until it answers."""
    port = free_port()
    command = [sys.executable, "-m", "speechbrain_lora_ser.service"]
    command += ["--model", args.model, "--port", str(port), "--precision"]
    command += [args.precision, "--max_batch", str(max_batch), "--max_queue", "1000"]
    command += ["--live_window_seconds", "2", "--live_hop_seconds", "1"]
    if args.savedir:  # int8: the quantized encoder is cached there
        command += ["--savedir", args.savedir]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            httpx.get(url + "/health")
            return process, url
        except httpx.TransportError:
            time.sleep(0.5)


def rss_mib(process):
    """Return the resident memory of ``process`` in MiB."""
    with open(f"/proc/{process.pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def load(url, data, clients, requests):
    """Post ``requests`` files from ``clients`` threads."""

    def one(_):
        began = time.perf_counter()
        response = httpx.post(
            url + "/predict", files={"file": ("a.wav", data)}, timeout=600
        )
        return time.perf_counter() - began, response.status_code

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - began
    latencies = np.array([t for t, status in results if status == 200])
    errors = sum(status != 200 for _, status in results)
    return requests / seconds, *np.percentile(latencies, [50, 95]), errors


async def live_latency(url, path, hops, query=""):
    """p50 and p95 seconds from the end of a hop to its values; hops; rated."""
    wav, rate = soundfile.read(path, dtype="int16")
    step, latencies, rated = rate // 4, [], 0
    ws_url = url.replace("http", "ws") + "/stream" + query
    async with websockets.connect(ws_url) as ws:
        for i in range(0, min(len(wav), rate * hops), step):
            await ws.send(wav[i : i + step].tobytes())
            if (i + step) % rate == 0:
                sent = time.perf_counter()
                message = json.loads(await ws.recv())
                latencies.append(time.perf_counter() - sent)
                rated += any(message[k] is not None for k in ATTRIBUTES)
    return (*np.percentile(latencies, [50, 95]), len(latencies), rated)


def run_load(args, data):
    """Batched against unbatched, then the RSS and the live stream at 8."""
    for max_batch in (1, 8):
        process, url = start(args, max_batch)
        load(url, data, args.clients, args.clients)  # warm up
        rps, p50, p95, errors = load(url, data, args.clients, args.requests)
        print(
            f"max_batch={max_batch}: {rps:.1f} requests/s, p50 {p50 * 1e3:.0f} ms,"
            f" p95 {p95 * 1e3:.0f} ms, {errors} errors"
        )
        if max_batch == 8:
            before = rss_mib(process)
            load(url, data, args.clients, args.rss_requests)
            print(
                f"RSS {before:.0f} MiB before, {rss_mib(process):.0f} MiB after "
                f"{args.rss_requests} requests"
            )
            print_live(args, url)
        process.terminate()
        process.wait()


def print_live(args, url):
    """Measure and print the live stream's latency."""
    query = "?uncalibrated=true" if args.uncalibrated else ""
    p50, p95, hops, rated = asyncio.run(live_latency(url, args.audio, args.hops, query))
    print(
        f"live ({args.precision}, 2 s window, 1 s hop, {hops} hops, {rated} "
        f"with values): end of hop to values p50 {p50 * 1e3:.0f} ms, "
        f"p95 {p95 * 1e3:.0f} ms"
    )


def main():
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--audio", required=True, help="a speech WAV (a few s)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rss_requests", type=int, default=1000)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "int8"))
    parser.add_argument(
        "--live_only", action="store_true", help="only the live stream's latency"
    )
    parser.add_argument("--hops", type=int, default=10, help="live hops measured")
    parser.add_argument("--savedir", default=None, help="ser-serve --savedir")
    parser.add_argument(
        "--uncalibrated", action="store_true", help="live: the raw outputs"
    )
    args = parser.parse_args()
    if args.live_only:
        process, url = start(args, 8)
        asyncio.run(live_latency(url, args.audio, hops=2))  # warm up
        print_live(args, url)
        process.terminate()
        process.wait()
        return
    data = open(args.audio, "rb").read()
    print(f"{args.clients} clients, {args.requests} requests, {args.precision}")
    run_load(args, data)


if __name__ == "__main__":
    main()
