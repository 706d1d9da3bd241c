"""``jazzcnn serve``: a local page to drop an audio file on and see a trained run's era probabilities.

The page shows the whole-file probabilities and, over time, each clip's probabilities with the
commentary and silence that were removed marked, exactly as ``jazzcnn predict`` computes them (the
same :class:`~jazzcnn.train.predict.Predictor`). Built on Starlette and served by uvicorn on
127.0.0.1 only, unless the user explicitly allows another address. A bad file gets a clear message
on the page and the server keeps running.

Endpoints: ``GET /`` (the page, no external resources), ``GET /api/run`` (the run's eras and
settings), ``POST /api/predict`` (a multipart upload named ``audio``; JSON answer, or
``{"error": ...}`` with status 400 or 413).
"""

from __future__ import annotations

import ipaddress
import tempfile
import threading
from pathlib import Path

from jazzcnn.core.errors import JazzcnnError, SettingsError
from jazzcnn.core.settings import setting, stage_config


@stage_config
class ServeConfig:
    """The local predict page."""

    runs_dir: Path = setting(Path("runs"), "run folders live in RUNS_DIR/<run>")
    run: str = setting("jazzcnn", "trained run whose model answers")
    host: str = setting("127.0.0.1", "address to listen on; anything but loopback needs --allow-remote")
    port: int = setting(8000, "TCP port", ge=1, le=65535)
    allow_remote: bool = setting(False, "allow a non-loopback --host (the page has no authentication)")
    max_upload_mb: float = setting(500.0, "largest upload accepted", "MB", gt=0)


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless allowed.

    Raises
    ------
    SettingsError
        ``host`` is not 127.0.0.0/8, ::1 or ``localhost`` and ``allow_remote`` is False.
    """
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback and not allow_remote:
        raise SettingsError(f"--host {host} is not a loopback address; the page has no authentication, so serving "
                            "beyond this machine needs --allow-remote true")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>jazzcnn: era of a recording ({{ run }})</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
#drop { border: 2px dashed #999; border-radius: 8px; padding: 2em; text-align: center; color: #555; }
#drop.over { background: #eef; }
#error { color: #a00; background: #fee; border: 1px solid #e99; padding: 0.6em; display: none; }
table { border-collapse: collapse; margin: 0.8em 0; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; }
.bar { display: inline-block; height: 0.9em; background: #4a7; vertical-align: middle; }
.note { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>Which era does it sound like?</h1>
<p class="note">Run <b>{{ run }}</b>, eras: {{ eras | join(", ") }}. The file is cleaned as the run's training audio was
(16 kHz mono, spoken commentary and long silences removed), cut into {{ clip_s }}-s clips, and each clip is classified;
the whole file's probabilities are the mean over its clips. Nothing leaves this machine.</p>
<form id="form"><div id="drop">Drop an audio file here, or <input type="file" id="file" name="audio"></div></form>
<p id="status" class="note"></p>
<div id="error"></div>
<div id="result"></div>
<script>
const eras = {{ eras | tojson }};
const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const drop = document.getElementById("drop"), file = document.getElementById("file");
function show(el, text) { el.style.display = text ? "block" : "none"; el.textContent = text || ""; }
async function send(f) {
  show(document.getElementById("error"), ""); document.getElementById("result").innerHTML = "";
  document.getElementById("status").textContent = "classifying " + f.name + " ...";
  const body = new FormData(); body.append("audio", f, f.name);
  let answer;
  try {
    const r = await fetch("/api/predict", {method: "POST", body: body});
    answer = await r.json();
    if (!r.ok) throw new Error(answer.error || ("HTTP " + r.status));
  } catch (e) { document.getElementById("status").textContent = ""; show(document.getElementById("error"), String(e.message)); return; }
  document.getElementById("status").textContent = f.name + ": " + answer.duration_s.toFixed(1) + " s decoded, " +
    answer.clips.length + " clip(s) classified";
  render(answer);
}
function render(a) {
  let html = "<h2>Whole file</h2><table id='whole'><tr><th>era</th><th>probability</th></tr>";
  const order = a.eras.map((e, i) => i).sort((i, j) => a.probabilities[j] - a.probabilities[i]);
  for (const i of order) html += "<tr><td>" + a.eras[i] + "</td><td><span class='bar' style='width:" +
    (200 * a.probabilities[i]).toFixed(0) + "px'></span> " + a.probabilities[i].toFixed(3) + "</td></tr>";
  html += "</table><h2>Over time</h2>" + timeline(a) +
    "<p class='note'>Lines: each clip's era probabilities at its start time. Grey bands: removed (speech, silence ...).</p>";
  document.getElementById("result").innerHTML = html;
}
function timeline(a) {
  const W = 900, H = 220, pad = 30, right = 120, T = Math.max(a.duration_s, 1e-3);
  const x = t => pad + (W - pad - right) * t / T, y = p => H - pad - (H - 2 * pad) * p;
  let svg = "<svg id='timeline' width='" + W + "' height='" + H + "' xmlns='http://www.w3.org/2000/svg'>";
  for (const r of a.removed) svg += "<rect x='" + x(r.start_s) + "' y='" + pad + "' width='" + Math.max(1, x(r.end_s) - x(r.start_s)) +
    "' height='" + (H - 2 * pad) + "' fill='#ddd'><title>" + r.reason + " " + r.start_s.toFixed(1) + "-" + r.end_s.toFixed(1) + " s</title></rect>";
  a.eras.forEach((e, k) => {
    const pts = a.clips.map(c => x(c.start_s).toFixed(1) + "," + y(c.p[k]).toFixed(1)).join(" ");
    svg += "<polyline fill='none' stroke='" + colors[k % colors.length] + "' stroke-width='2' points='" + pts + "'/>";
    svg += "<text x='" + (W - right + 10) + "' y='" + (pad + 14 * k) + "' font-size='11' fill='" + colors[k % colors.length] + "'>" + e + "</text>";
  });
  svg += "<line x1='" + pad + "' y1='" + (H - pad) + "' x2='" + (W - right) + "' y2='" + (H - pad) + "' stroke='#444'/>";
  svg += "<line x1='" + pad + "' y1='" + pad + "' x2='" + pad + "' y2='" + (H - pad) + "' stroke='#444'/>";
  svg += "<text x='" + (pad - 12) + "' y='" + (pad + 4) + "' font-size='11'>1</text><text x='" + (pad - 12) + "' y='" +
    (H - pad + 4) + "' font-size='11'>0</text>";
  svg += "<text x='" + pad + "' y='" + (H - 8) + "' font-size='11'>0 s</text><text x='" + (W - right - 30) + "' y='" + (H - 8) +
    "' font-size='11'>" + T.toFixed(0) + " s</text></svg>";
  return svg;
}
file.addEventListener("change", () => { if (file.files.length) send(file.files[0]); });
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]); });
</script></body></html>
"""


def make_app(run_dir: Path, *, max_upload_bytes: int = 500_000_000):
    """The Starlette application for one trained run.

    Parameters
    ----------
    run_dir : Path
        The run whose model answers (loaded once, here).
    max_upload_bytes : int
        Larger uploads get status 413 [bytes].

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    RunError
        The run cannot be loaded (missing or mismatched model, no record of its cleaning settings).
    """
    import jinja2
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from jazzcnn.train.predict import Predictor

    predictor = Predictor(run_dir)
    lock = threading.Lock()  # one prediction at a time: the model is not shared between threads
    page = jinja2.Environment(autoescape=True).from_string(_PAGE).render(
        run=Path(run_dir).name, eras=predictor.eras, clip_s=f"{predictor.clip_samples / predictor.sample_rate:g}")

    def classify(path: Path) -> dict:
        with lock:
            pred = predictor.predict(path)
        cols = [f"p_{e}" for e in pred.eras]
        return {"eras": pred.eras, "probabilities": pred.probabilities.tolist(),
                "duration_s": float(pred.cleaned.duration_s),
                "clips": [{"start_s": float(r.start_s), "end_s": float(r.end_s), "p": [float(v) for v in r[cols]]}
                          for _, r in pred.clips.iterrows()],
                "removed": [{"start_s": float(a), "end_s": float(b), "reason": why} for a, b, why in pred.cleaned.removed]}

    async def index(request):
        return HTMLResponse(page)

    async def info(request):
        return JSONResponse({"run": Path(run_dir).name, "eras": predictor.eras,
                             "clip_seconds": predictor.clip_samples / predictor.sample_rate})

    async def predict(request):
        form = await request.form()
        upload = form.get("audio")
        if upload is None or not hasattr(upload, "read"):
            return JSONResponse({"error": "no file: send it as the form field 'audio'"}, status_code=400)
        if upload.size is not None and upload.size > max_upload_bytes:
            return JSONResponse({"error": f"{upload.filename}: {upload.size} bytes, more than the "
                                          f"{max_upload_bytes} accepted (--max-upload-mb)"}, status_code=413)
        suffix = Path(upload.filename or "upload").suffix[:10]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            with open(path, "wb") as fh:  # streamed to disk: a long tape need not fit in memory twice
                while chunk := await upload.read(1 << 20):
                    fh.write(chunk)
            try:
                answer = await run_in_threadpool(classify, path)
            except JazzcnnError as e:
                message = str(e).replace(str(path), upload.filename or "the file")
                return JSONResponse({"error": message}, status_code=400)
        return JSONResponse(answer)

    return Starlette(routes=[Route("/", index), Route("/api/run", info), Route("/api/predict", predict, methods=["POST"])])
