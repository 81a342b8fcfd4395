"use strict";
const $ = id => document.getElementById(id);
const page = { windows: [], low: null, high: null, liveMessages: 0 };
window.serPage = page;

function fmt(v) { return v === null || v === undefined ? "withheld" : v.toFixed(3); }

function show(result) {
  for (const name of ["arousal", "valence", "dominance"]) $(name).textContent = fmt(result[name]);
  if (result.label_low !== undefined && result.label_low !== null) {
    page.low = result.label_low; page.high = result.label_high;
  }
  $("scale").textContent = page.low === null ? "" : `${page.low} to ${page.high}`;
  $("withheld").textContent = (result.not_learned || []).join(", ") || "none";
  $("language").textContent = result.language || "";
}

async function rateFile(file) {
  $("status").textContent = `rating ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  form.append("timeline", "true");
  form.append("uncalibrated", String($("uncalibrated").checked));
  const response = await fetch("/predict", { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) { $("status").textContent = `error ${response.status}: ${body.detail}`; return; }
  show(body);
  page.windows = body.windows || [];
  drawPlot($("plot"), page.windows, page.low, page.high);
  $("status").textContent = `${file.name}: ${page.windows.length} windows` +
    (body.warning ? ` (${body.warning})` : "");
  $("status").dataset.done = "file";
}

$("upload").addEventListener("submit", e => {
  e.preventDefault();
  if ($("file").files.length) rateFile($("file").files[0]);
});
const drop = $("drop");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) rateFile(e.dataTransfer.files[0]);
});

// Live: the microphone at 16 kHz, sent as 16-bit PCM to /stream.
let live = null;
async function startLive() {
  const health = await (await fetch("/health")).json();
  const media = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext({ sampleRate: health.live_sample_rate });
  const source = context.createMediaStreamSource(media);
  const node = context.createScriptProcessor(4096, 1, 1);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(
    `${scheme}://${location.host}/stream?uncalibrated=${$("uncalibrated").checked}`);
  page.windows = []; page.liveMessages = 0;
  socket.onmessage = e => {
    const message = JSON.parse(e.data);
    page.liveMessages += 1;
    show(message);
    page.windows.push(message);
    drawPlot($("plot"), page.windows, page.low, page.high);
    $("status").textContent = `live: ${message.end.toFixed(1)} s`;
  };
  node.onaudioprocess = e => {
    if (socket.readyState !== WebSocket.OPEN) return;
    const samples = e.inputBuffer.getChannelData(0);
    const pcm = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32767)));
    }
    socket.send(pcm.buffer);
  };
  source.connect(node); node.connect(context.destination);
  live = { media, context, socket };
  $("record").disabled = true; $("stop").disabled = false;
}
function stopLive() {
  if (!live) return;
  live.socket.close(); live.context.close();
  live.media.getTracks().forEach(t => t.stop());
  live = null; $("record").disabled = false; $("stop").disabled = true;
}
$("record").addEventListener("click", () => startLive().catch(e => {
  $("status").textContent = `microphone: ${e}`;
}));
$("stop").addEventListener("click", stopLive);
