"""ser-serve: the HTTP API, the live WebSocket and the page, as people use them."""

import asyncio
import concurrent.futures
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile
import websockets
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from speechbrain_lora_ser.service.app import create_app
from speechbrain_lora_ser.service.batching import Batcher, QueueFull
from speechbrain_lora_ser.service.settings import Settings
from speechbrain_lora_ser.serving.model_loading import load_serving_model

ATTRIBUTES = ("arousal", "valence", "dominance")
LIVE = {"live_window_seconds": 2.0, "live_hop_seconds": 1.0}


@pytest.fixture(scope="module")
def model_folder(trained_ft_lora):
    return str(trained_ft_lora / "inference")


@pytest.fixture(scope="module")
def model(model_folder, tmp_path_factory):
    return load_serving_model(model_folder, str(tmp_path_factory.mktemp("served")))


@pytest.fixture(scope="module")
def speech(recipe_data, tmp_path_factory):
    """Twelve seconds of the demo corpus's speech, one 16 kHz WAV."""
    files = sorted(glob.glob(str(recipe_data / "BIIC-Podcast" / "Audios" / "*.wav")))
    parts, rate = [], 16000
    for path in files:
        wav, rate = soundfile.read(path, dtype="float32")
        parts.append(wav)
        if sum(p.shape[0] for p in parts) > 12 * rate:
            break
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    soundfile.write(path, np.concatenate(parts)[: 12 * rate], rate)
    return path


@pytest.fixture(scope="module")
def client(model):
    settings = Settings(max_upload_bytes=1_000_000, max_seconds=20.0, **LIVE)
    with TestClient(create_app(model, settings)) as client:
        yield client


def post(client, path, **form):
    with open(path, "rb") as f:
        return client.post("/predict", files={"file": (path.name, f)}, data=form)


def assert_same(served, expected, keys=("label_low", "not_learned", "out_of_range")):
    for name in ATTRIBUTES:
        assert served[name] == pytest.approx(expected[name], abs=1e-5)
    for key in keys:
        assert served[key] == expected[key]


@pytest.mark.parametrize("calibrate", [True, False])
def test_predict_equals_predict_file(client, model, speech, calibrate):
    form = {"timeline": "true", "uncalibrated": str(not calibrate).lower()}
    served = post(client, speech, **form)
    assert served.status_code == 200, served.text
    body = served.json()
    expected = model.predict_file(str(speech), return_windows=True, calibrate=calibrate)
    if not calibrate:  # the raw outputs: every attribute has a value
        assert all(body[name] is not None for name in ATTRIBUTES)
    assert_same(body, expected)
    assert len(body["windows"]) == len(expected["windows"]) >= 2
    for mine, theirs in zip(body["windows"], expected["windows"], strict=True):
        assert (mine["start"], mine["end"]) == (theirs["start"], theirs["end"])
        assert_same(mine, theirs, keys=())
    assert post(client, speech).json()["windows"] is None


def test_health_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["live_hop_seconds"] == 1.0
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/predict"} <= set(paths)
    assert "Prediction" in str(paths["/predict"])


def test_page_is_served_with_its_script(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/page.js" in page.text
    assert "drawPlot" in client.get("/static/plot.js").text


def test_too_large_upload_is_413(client, tmp_path):
    path = tmp_path / "big.wav"
    soundfile.write(path, np.zeros(16000 * 40, dtype=np.float32), 16000, "FLOAT")
    response = post(client, path)
    assert response.status_code == 413
    assert (
        "big.wav" in response.json()["detail"] and "bytes" in response.json()["detail"]
    )


def test_too_long_audio_is_413(client, tmp_path):
    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros(8000 * 30, dtype=np.int16), 8000)  # 30 s, 480 kB
    response = post(client, path)
    assert response.status_code == 413
    assert "30.0 s is longer than 20 s" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"this is not audio", "not readable audio"),
        (b"", "the upload is empty (0 bytes)"),
    ],
)
def test_unreadable_audio_is_422_naming_it(client, tmp_path, content, problem):
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    response = post(client, path)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("notes.wav: " + problem)


def test_too_short_audio_is_422_and_service_goes_on(client, speech, tmp_path):
    path = tmp_path / "blip.wav"
    soundfile.write(path, np.full(40, 0.1, dtype=np.float32), 16000)
    response = post(client, path)
    assert response.status_code == 422 and "blip.wav" in response.json()["detail"]
    assert post(client, speech).status_code == 200


def test_missing_file_field_is_422(client):
    assert client.post("/predict", data={"timeline": "true"}).status_code == 422


def test_full_queue_refuses():
    async def scenario():
        batcher = Batcher(None, Settings(max_queue=1))  # no worker: nothing leaves
        first = asyncio.ensure_future(batcher.submit("a.wav"))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await batcher.submit("b.wav")
        first.cancel()

    asyncio.run(scenario())


def pcm_chunks(path, seconds=0.25):
    wav, rate = soundfile.read(path, dtype="int16")
    step = int(rate * seconds)
    return [wav[i : i + step].tobytes() for i in range(0, len(wav), step)]


def test_stream_sends_values_every_hop(client, model, speech, tmp_path):
    messages = []
    with client.websocket_connect("/stream") as ws:
        for chunk in pcm_chunks(speech)[:16]:  # 4 s: hops at 1, 2, 3, 4 s
            ws.send_bytes(chunk)
        for _ in range(4):
            messages.append(ws.receive_json())
    assert [m["end"] for m in messages] == [1.0, 2.0, 3.0, 4.0]
    assert [m["start"] for m in messages] == [0.0, 0.0, 1.0, 2.0]
    # the last window's values are the file's: same speech detection, calibration
    wav, rate = soundfile.read(speech, dtype="int16")
    window = tmp_path / "window.wav"
    soundfile.write(window, wav[2 * rate : 4 * rate].astype(np.float32) / 32768, rate)
    expected = model.predict_file(str(window))
    for name in ATTRIBUTES:
        assert messages[-1][name] == pytest.approx(expected[name], abs=1e-5)


def test_stream_odd_bytes_close_the_socket_not_the_service(client, speech):
    with client.websocket_connect("/stream") as ws:
        ws.send_bytes(b"\x00\x01\x02")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1003 and "even number" in closed.value.reason
    assert client.get("/health").status_code == 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_folder, tmp_path_factory):
    """``ser-serve`` as a user starts it, on a free port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "speechbrain_lora_ser.service",
        "--model",
        model_folder,
        "--port",
        str(port),
        "--savedir",
        str(tmp_path_factory.mktemp("server")),
        "--max_queue",
        "4",
        "--max_wait_ms",
        "50",
        "--live_window_seconds",
        "2",
        "--live_hop_seconds",
        "1",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health").status_code == 200:
                break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
    yield url, process
    if process.poll() is None:
        process.kill()


def test_server_batches_concurrent_requests(server, model, speech):
    url, _ = server
    before = httpx.get(url + "/health").json()["batches"]
    expected = model.predict_file(str(speech))
    data = speech.read_bytes()

    def one(_):
        files = {"file": ("speech.wav", data)}
        return httpx.post(url + "/predict", files=files, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(one, range(12)))
    ok = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code == 503]
    assert len(ok) + len(busy) == 12 and ok
    for response in ok:
        assert_same(response.json(), expected)
    for response in busy:  # past the queue of 4: told when to come back
        assert response.headers["Retry-After"] == "1"
    batches = httpx.get(url + "/health").json()["batches"] - before
    assert batches < len(ok)  # several requests shared a forward pass


def test_server_survives_a_client_that_disconnects(server, speech):
    url, _ = server
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as s:
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
        )
    assert httpx.get(url + "/health").status_code == 200


@pytest.fixture(scope="module")
def browser(speech):
    """Headless Chromium; the microphone plays ``speech`` (a fake device)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--window-size=1000,800",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def wait_for(check, seconds=60):
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_page_shows_the_api_values_of_an_uploaded_file(server, browser, speech):
    url, _ = server
    with open(speech, "rb") as f:
        api = httpx.post(url + "/predict", files={"file": f}, timeout=120).json()
    browser.get(url + "/")
    browser.find_element("id", "file").send_keys(str(speech))
    browser.find_element("id", "send").click()
    status = browser.find_element("id", "status")
    wait_for(lambda: status.get_attribute("data-done") == "file")
    for name in ATTRIBUTES:
        shown = browser.find_element("id", name).text
        assert shown == ("withheld" if api[name] is None else f"{api[name]:.3f}")
    assert browser.find_element("id", "scale").text == (
        f"{api['label_low']:g} to {api['label_high']:g}"
    )
    windows = browser.execute_script("return window.serPage.windows.length")
    assert windows == 2 and "2 windows" in status.text


def plot_pixels(browser):
    return browser.execute_script(
        "const c = document.getElementById('plot');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n;"
    )


def test_page_live_plot_moves_with_the_microphone(server, browser):
    url, _ = server
    browser.get(url + "/")
    blank = plot_pixels(browser)
    browser.find_element("id", "uncalibrated").click()  # values for every window
    browser.find_element("id", "record").click()
    count = "return window.serPage.liveMessages"
    wait_for(lambda: browser.execute_script(count) >= 3, seconds=90)
    first = plot_pixels(browser)
    wait_for(lambda: browser.execute_script(count) >= 5, seconds=90)
    assert blank < first != plot_pixels(browser)
    assert browser.find_element("id", "status").text.startswith("live: ")
    assert browser.find_element("id", "arousal").text != "withheld"
    screenshot = os.environ.get("SER_SERVICE_SCREENSHOT")
    if screenshot:  # docs/images/service-page.png is taken this way
        browser.save_screenshot(screenshot)
    browser.find_element("id", "stop").click()


def test_server_exits_cleanly_on_ctrl_c(server):
    _, process = server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def ray_server(model_folder, tmp_path_factory):
    """``ser-serve --ray``: two replicas on a local Ray of two CPUs."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "speechbrain_lora_ser.service",
        "--model",
        model_folder,
        "--ray",
        "--replicas",
        "2",
        "--num_cpus",
        "2",
        "--port",
        str(port),
        "--max_wait_ms",
        "100",
        *("--live_window_seconds", "2", "--live_hop_seconds", "1"),
    ]
    log = tmp_path_factory.mktemp("ray_serve") / "log.txt"
    with open(log, "w") as out:  # Ray writes much: a file, not a pipe
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(900):  # every replica is up once the command says so
        if "serving on" in log.read_text():
            break
        assert process.poll() is None, log.read_text()[-4000:]
        time.sleep(0.2)
    assert httpx.get(url + "/health").status_code == 200
    yield url, process
    if process.poll() is None:
        process.kill()


def test_ray_serve_replicas_batch_and_equal_predict_file(ray_server, model, speech):
    url, _ = ray_server
    expected = model.predict_file(str(speech), return_windows=True)
    data = speech.read_bytes()

    def one(_):
        files = {"file": ("speech.wav", data)}
        form = {"timeline": "true"}
        return httpx.post(url + "/predict", files=files, data=form, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    for response in responses:  # through Ray Serve's HTTP proxy
        body = response.json()
        assert_same(body, expected)
        for mine, theirs in zip(body["windows"], expected["windows"], strict=True):
            assert (mine["start"], mine["end"]) == (theirs["start"], theirs["end"])
            assert_same(mine, theirs, keys=())
    replicas = {r.headers["X-SER-Replica"] for r in responses}
    assert len(replicas) == 2  # both replicas answered
    health = {}
    for _ in range(200):  # the proxy picks the replica: ask until both answer
        body = httpx.get(url + "/health").json()
        health[body["replica"]] = body
        if len(health) == 2:
            break
    assert set(health) == replicas
    # @serve.batch put concurrent requests in one predict_files call
    assert max(h["largest_batch"] for h in health.values()) > 1
    assert sum(h["batches"] for h in health.values()) < 16


def test_ray_serve_streams_live_audio(ray_server, speech):
    url, _ = ray_server

    async def first_message():
        ws_url = url.replace("http", "ws") + "/stream?uncalibrated=true"
        async with websockets.connect(ws_url) as ws:
            for chunk in pcm_chunks(speech)[:4]:  # 1 s: one hop
                await ws.send(chunk)
            return json.loads(await ws.recv())

    message = asyncio.run(first_message())
    assert (message["start"], message["end"]) == (0.0, 1.0)
    assert message["arousal"] is not None and message["error"] is None


def test_ray_serve_exits_cleanly_on_ctrl_c(ray_server):
    _, process = ray_server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=90) == 0
