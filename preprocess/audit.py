"""The commentary audit: pages to check by ear what the preprocess stage removed and what it kept.

``jazzcnn audit`` (and every ``make preprocess``) writes ``REPORTS_DIR/commentary/``:

``index.html``
    The collection: hours decoded, kept and removed by reason, and one row per file with its
    shares and a link to its page.
``tapes/<identifier>.html``
    One file per section: a strip of the whole file (kept music, and each removed span coloured
    by its reason), and a table of every removed span with three players: the span itself, and a
    few seconds either side of each of its two cuts.

Players play the downloaded originals (``DATA_DIR/audio``) through media fragments
(``file.mp3#t=start,end``), so nothing is copied and the pages stay small for a 1,000-hour
collection; they open from disk in a browser as long as the downloads are where they were.
A user who disagrees with a cut writes it into ``manifests/commentary_overrides.csv`` (see the
index page); the next ``make preprocess`` redoes that file only.

Pages are rendered with Jinja2 (autoescaped); everything is read through the manifest readers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from jazzcnn.acquire.manifests import read_commentary
from jazzcnn.core.files import atomic_write_text
from jazzcnn.core.paths import DataPaths, ManifestPaths

#: Seconds played either side of a cut.
CONTEXT_S = 3.0
#: Colour of each removal reason on the strips (others get grey).
REASON_COLORS = {"speech": "#d62728", "speech_over_music": "#ff7f0e", "silence": "#7f7f7f", "head": "#9467bd",
                 "tail": "#8c564b", "short": "#bcbd22", "override": "#17becf"}
KEPT_COLOR = "#2ca02c"

_STYLE = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; } th { background: #f2f2f2; }
td.l, th.l { text-align: left; } audio { height: 1.8em; vertical-align: middle; width: 210px; }
.legend span { display: inline-block; padding: 0.1em 0.5em; margin-right: 0.4em; color: #fff; border-radius: 3px; }
.note { color: #555; font-size: 0.9em; } code { background: #f6f6f6; padding: 0 0.2em; }"""

_INDEX = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Commentary audit</title><style>{{ style }}</style></head><body>
<h1>Commentary audit</h1>
<p>{{ files }} files, {{ "%.2f" | format(hours) }} h decoded: {{ "%.2f" | format(kept_h) }} h kept as music,
{% for r in reasons %}{{ "%.2f" | format(r.hours) }} h {{ r.name }}{{ ", " if not loop.last else "" }}{% endfor %} removed.</p>
<p class="legend">{% for r in legend %}<span style="background:{{ r.color }}">{{ r.name }}</span>{% endfor %}</p>
<p class="note">Disagree with a cut? Add a row to <code>{{ overrides }}</code> (columns <code>identifier,file,start_s,end_s,action</code>,
action <code>keep</code> or <code>remove</code>); the next <code>make preprocess</code> redoes that file only.</p>
<table><tr><th class="l">tape</th><th class="l">file</th><th>duration [s]</th><th>kept [s]</th>
{% for r in reasons %}<th>{{ r.name }} [s]</th>{% endfor %}<th class="l">status</th></tr>
{% for t in rows %}<tr><td class="l"><a href="{{ t.href }}">{{ t.identifier }}</a></td><td class="l">{{ t.file }}</td>
<td>{{ "%.1f" | format(t.duration) }}</td><td>{{ "%.1f" | format(t.kept) }}</td>
{% for v in t.by_reason %}<td>{{ "%.1f" | format(v) }}</td>{% endfor %}<td class="l">{{ t.status }}</td></tr>{% endfor %}
</table></body></html>"""

_TAPE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>{{ identifier }}: commentary audit</title><style>{{ style }}</style></head><body>
<p><a href="../index.html">&larr; all tapes</a></p><h1>{{ identifier }}</h1>
{% for f in files %}<h2>{{ f.file }}</h2>
<p>{{ "%.1f" | format(f.duration) }} s decoded, {{ "%.1f" | format(f.kept) }} s kept, {{ f.spans | length }} span(s) removed.
{% if not f.audio_ok %}<b>The download is not at {{ f.path }}: the players below cannot play.</b>{% endif %}</p>
<svg width="{{ width }}" height="26" xmlns="http://www.w3.org/2000/svg"><rect width="{{ width }}" height="26" fill="{{ kept_color }}"/>
{% for s in f.spans %}<rect x="{{ s.x }}" width="{{ s.w }}" height="26" fill="{{ s.color }}"><title>{{ s.reason }} {{ s.start }}-{{ s.end }} s</title></rect>{% endfor %}
</svg>
<p class="legend">{% for r in legend %}<span style="background:{{ r.color }}">{{ r.name }}</span>{% endfor %}<span style="background:{{ kept_color }}">kept</span></p>
<table><tr><th>#</th><th class="l">reason</th><th>start [s]</th><th>end [s]</th><th>length [s]</th>
<th class="l">the removed span</th><th class="l">around its start</th><th class="l">around its end</th></tr>
{% for s in f.spans %}<tr><td>{{ loop.index }}</td><td class="l">{{ s.reason }}</td><td>{{ s.start }}</td><td>{{ s.end }}</td>
<td>{{ s.length }}</td><td class="l"><audio controls preload="none" src="{{ s.src_span }}"></audio></td>
<td class="l"><audio controls preload="none" src="{{ s.src_in }}"></audio></td>
<td class="l"><audio controls preload="none" src="{{ s.src_out }}"></audio></td></tr>{% endfor %}
</table>{% endfor %}</body></html>"""


@dataclass
class AuditResult:
    """What :func:`write_audit` wrote."""

    index: Path
    tape_pages: int
    spans: int


def _media(path: Path, start: float, end: float, relative_to: Path) -> str:
    rel = os.path.relpath(path, relative_to)
    return quote(rel) + f"#t={max(0.0, start):.3f},{end:.3f}"


def write_audit(data_dir: Path, manifests_dir: Path, out_dir: Path, *, context_s: float = CONTEXT_S,
                width: int = 1000) -> AuditResult:
    """Write the audit pages (see the module docstring) from the commentary CSVs.

    Parameters
    ----------
    data_dir : Path
        ``DATA_DIR`` (the downloads the players play).
    manifests_dir : Path
        Holds ``commentary.csv`` and ``commentary_summary.csv``.
    out_dir : Path
        ``REPORTS_DIR/commentary`` (created).
    context_s : float
        Seconds played either side of each cut [s].
    width : int
        Width of the strips [pixels].

    Returns
    -------
    AuditResult

    Raises
    ------
    ManifestError
        The commentary CSVs are missing or malformed (file and line named).
    """
    import jinja2

    env = jinja2.Environment(autoescape=True)
    paths = ManifestPaths(manifests_dir)
    summary = read_commentary(paths.commentary_summary, summary=True)
    spans = read_commentary(paths.commentary)
    audio = DataPaths(data_dir).audio
    out_dir = Path(out_dir)
    pages = out_dir / "tapes"
    pages.mkdir(parents=True, exist_ok=True)
    reasons = sorted(set(spans["reason"]), key=lambda r: list(REASON_COLORS).index(r) if r in REASON_COLORS else 99)
    legend = [{"name": r, "color": REASON_COLORS.get(r, "#999")} for r in reasons]
    by_file = {k: g for k, g in spans.groupby(["identifier", "file"], sort=False)}
    rows, n_spans = [], 0
    for ident, tape in summary.groupby("identifier", sort=True):
        files = []
        for r in tape.itertuples(index=False):
            path = audio / r.identifier / r.file
            dur = float(r.duration_s) if r.duration_s == r.duration_s else 0.0
            items = []
            for s in by_file.get((r.identifier, r.file), pd.DataFrame()).itertuples(index=False):
                x = width * s.start_s / dur if dur else 0
                items.append({"reason": s.reason, "start": f"{s.start_s:.2f}", "end": f"{s.end_s:.2f}",
                              "length": f"{s.end_s - s.start_s:.2f}", "color": REASON_COLORS.get(s.reason, "#999"),
                              "x": f"{x:.1f}", "w": f"{max(1.0, width * (s.end_s - s.start_s) / dur if dur else 0):.1f}",
                              "src_span": _media(path, s.start_s, s.end_s, pages),
                              "src_in": _media(path, s.start_s - context_s, s.start_s + context_s, pages),
                              "src_out": _media(path, s.end_s - context_s, s.end_s + context_s, pages)})
            n_spans += len(items)
            files.append({"file": r.file, "duration": dur, "kept": float(r.kept_s or 0), "spans": items,
                          "audio_ok": path.is_file(), "path": str(path)})
            rows.append({"identifier": ident, "file": r.file, "href": f"tapes/{quote(_page_name(ident))}",
                         "duration": dur, "kept": float(r.kept_s or 0), "status": r.status,
                         "by_reason": [sum(float(i["length"]) for i in items if i["reason"] == x) for x in reasons]})
        html = env.from_string(_TAPE).render(style=_STYLE, identifier=ident, files=files, width=width, legend=legend,
                                             kept_color=KEPT_COLOR)
        atomic_write_text(pages / _page_name(ident), html)
    totals = [{"name": x, "hours": sum(row["by_reason"][i] for row in rows) / 3600} for i, x in enumerate(reasons)]
    html = env.from_string(_INDEX).render(
        style=_STYLE, files=len(rows), hours=summary["duration_s"].fillna(0).sum() / 3600,
        kept_h=summary["kept_s"].fillna(0).sum() / 3600, reasons=totals, legend=legend, rows=rows,
        overrides=str(Path(manifests_dir) / "commentary_overrides.csv"))
    index = out_dir / "index.html"
    atomic_write_text(index, html)
    return AuditResult(index=index, tape_pages=summary["identifier"].nunique(), spans=n_spans)


def _page_name(identifier: str) -> str:
    """A safe file name for a tape's page (identifiers are one path component, checked at download)."""
    return identifier.replace("/", "_") + ".html"
