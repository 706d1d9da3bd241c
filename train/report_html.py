"""``report.html``: one page that opens from disk in a browser, with the clips behind every number.

Written beside ``report.md`` by ``jazzcnn score`` and ``jazzcnn crossval``. It needs no server and
no network: images are the PNGs beside it, audio excerpts are Ogg Vorbis files in ``clips/``, and
the only styling is inline CSS. Sections:

* the headline table (models and baselines), the era confidence table and the confusion matrices
  as heatmaps with the numbers in their cells, per-era precision/recall/F1, era against year;
* **listen**: for every cell of the tape-level confusion matrix, the most confident clips (up to
  ``n_listen``), each with a player, its tape, time in the tape, year and era probabilities; the
  diagonal cells are the most typical correctly classified clips of each era;
* **embeddings**: the penultimate layer's activations and the input log-mel statistics of the
  scored clips, projected to two dimensions (PCA), by era and by year.

Pages are made with Jinja2 (autoescaped); excerpts are cut from the shards and encoded with
soundfile (libsndfile's Vorbis encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.core.files import atomic_write_text

#: Clips offered per confusion cell.
LISTEN_PER_CELL = 5

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.55em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
.heat td { width: 4.5em; text-align: center; }
.note { color: #555; font-size: 0.9em; }
.clip { border: 1px solid #ddd; border-radius: 4px; padding: 0.4em 0.6em; margin: 0.3em 0; }
.clip audio { vertical-align: middle; height: 2em; }
.cell { margin: 0.8em 0 1.4em; }
img { max-width: 100%; }
</style></head><body>
<h1>{{ title }}</h1>
{% for p in intro %}<p>{{ p }}</p>{% endfor %}
<h2 id="summary">Summary</h2>
{{ summary | safe }}
{% for p in notes %}<p class="note">{{ p }}</p>{% endfor %}
{% for t in tables %}<h3>{{ t.title }}</h3>{{ t.html | safe }}{% endfor %}
<h2 id="confidence">Era confidence (the seed study's table)</h2>
<p class="note">Mean softmax probability over the clips of each true era (rows); columns are the predicted era.</p>
{{ confidence | safe }}
<h2 id="confusion">Confusion matrices</h2>
<h3>Tapes</h3>{{ confusion_tape | safe }}
<h3>Clips</h3>{{ confusion_clip | safe }}
<h2 id="per-era">Per-era precision, recall, F1</h2>
<h3>Tapes</h3>{{ per_era_tape | safe }}
<h3>Clips</h3>{{ per_era_clip | safe }}
<h2 id="years">Does the confidence follow the years?</h2>
<p>{{ spearman }}</p>
<img src="era_vs_year.png" alt="era probabilities against recording year">
<h2 id="listen">Listen</h2>
<p class="note">For each cell of the tape confusion matrix (true era, predicted era): the clips the model was most
confident about, from tapes in that cell. On the diagonal: the most typical correctly classified clips of each era.
Excerpts are the 16 kHz mono audio the model heard, before any band-limit.</p>
{% for cell in cells %}<div class="cell"><h3>true {{ cell.true }} &rarr; predicted {{ cell.pred }}
({{ cell.n_tapes }} tape{{ '' if cell.n_tapes == 1 else 's' }})</h3>
{% for c in cell.clips %}<div class="clip"><audio controls preload="none" src="{{ c.src }}"></audio>
<b>{{ c.identifier }}</b> at {{ c.time }}{% if c.year %}, {{ c.year }}{% endif %}{% if c.fold is not none %}, fold {{ c.fold }}{% endif %}
&mdash; {{ c.probs }}</div>
{% endfor %}</div>{% endfor %}
{% if embeddings %}<h2 id="embeddings">Embeddings</h2>
<p class="note">{{ embeddings_note }}</p>
<img src="{{ embeddings }}" alt="PCA of penultimate-layer activations and of input log-mel statistics">{% endif %}
{% if curves %}<h2 id="training">Training curves</h2><img src="training_curves.png" alt="training curves">{% endif %}
<h2 id="provenance">Provenance</h2>
<ul>{% for p in provenance %}<li><code>{{ p }}</code></li>{% endfor %}</ul>
</body></html>
"""


def heat_table(matrix: np.ndarray, eras: list[str], fmt: str = "{:.2f}") -> str:
    """An HTML table shaded like a heatmap (viridis), each cell with its number written in it.

    Parameters
    ----------
    matrix : np.ndarray
        ``(n_eras, n_eras)``; rows are true eras. NaN cells show ``-``.
    """
    import matplotlib
    from markupsafe import escape

    cmap = matplotlib.colormaps["viridis"]
    finite = matrix[np.isfinite(matrix)]
    hi = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    rows = ["<table class='heat'><tr><th class='l'>true \\ predicted</th>"
            + "".join(f"<th>{escape(e)}</th>" for e in eras) + "</tr>"]
    for i, era in enumerate(eras):
        cells = []
        for v in matrix[i]:
            if not np.isfinite(v):
                cells.append("<td>-</td>")
                continue
            r, g, b, _ = cmap(v / hi)
            text = "#000" if (0.299 * r + 0.587 * g + 0.114 * b) > 0.55 else "#fff"
            cells.append(f"<td style='background:rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f});color:{text}'>"
                         f"{fmt.format(v)}</td>")
        rows.append(f"<tr><th class='l'>{escape(era)}</th>{''.join(cells)}</tr>")
    return "".join(rows) + "</table>"


def frame_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    """A DataFrame as an HTML table (pandas' writer, escaped)."""
    return df.to_html(index=False, escape=True, float_format=lambda v: floatfmt.format(v), border=0, na_rep="")


def listening_clips(clips: pd.DataFrame, eras: list[str], n: int = LISTEN_PER_CELL) -> pd.DataFrame:
    """The clips to listen to: per (true era, tape-predicted era) cell, the ``n`` most confident.

    A clip belongs to the cell of its tape (true era, the era its tape was predicted); within a
    cell, clips are ranked by their probability of the predicted era, at most two per tape so one
    tape does not fill a cell.

    Parameters
    ----------
    clips : pd.DataFrame
        Clip predictions: ``identifier``, ``true_era``, ``p_<era>``, ``shard``, ``shard_offset``,
        ``samples`` (and optionally ``fold``).

    Returns
    -------
    pd.DataFrame
        The chosen rows with ``cell_true``, ``cell_pred`` and ``confidence`` added.
    """
    cols = [f"p_{e}" for e in eras]
    tape_pred = clips.groupby("identifier")[cols].mean().idxmax(axis=1).str[2:]
    df = clips.assign(cell_true=clips["true_era"], cell_pred=clips["identifier"].map(tape_pred))
    df["confidence"] = [row[f"p_{p}"] for p, (_, row) in zip(df["cell_pred"], df.iterrows())]
    chosen = []
    for (_, _), g in df.groupby(["cell_true", "cell_pred"], sort=False):
        g = g.sort_values("confidence", ascending=False)
        chosen.append(g.groupby("identifier", sort=False).head(2).head(n))
    if not chosen:
        return df.iloc[:0]
    out = pd.concat(chosen)
    order = {e: i for i, e in enumerate(eras)}
    out = out.assign(_t=out["cell_true"].map(order), _p=out["cell_pred"].map(order), _c=-out["confidence"])
    return out.sort_values(["_t", "_p", "_c"]).drop(columns=["_t", "_p", "_c"]).reset_index(drop=True)


def write_excerpts(rows: pd.DataFrame, shard_dir: Path, clip_dir: Path, sample_rate: int) -> list[str]:
    """Cut each row's clip out of its shard and write it as Ogg Vorbis; return paths relative to the report.

    Raises
    ------
    ShardError
        A shard is missing or shorter than its clip.
    """
    import soundfile as sf

    from jazzcnn.preprocess.shards import read_segment

    clip_dir.mkdir(parents=True, exist_ok=True)
    for old in clip_dir.glob("clip-*.ogg"):
        old.unlink()
    names = []
    for i, r in enumerate(rows.to_dict("records")):
        pcm = read_segment(shard_dir, {"shard": r["shard"], "offset": r["shard_offset"], "length": r["samples"]})
        name = f"clip-{i:04d}.ogg"
        tmp = clip_dir / f".{name}.tmp.ogg"
        sf.write(tmp, pcm.astype(np.float32) / 32768.0, sample_rate, format="OGG", subtype="VORBIS")
        tmp.replace(clip_dir / name)
        names.append(f"{clip_dir.name}/{name}")
    return names


@dataclass
class HtmlReport:
    """Everything one ``report.html`` shows (see :func:`write_html_report`)."""

    title: str
    intro: list[str]
    summary: pd.DataFrame
    notes: list[str]
    evaluation: dict
    eras: list[str]
    clips: pd.DataFrame
    shard_dir: Path
    sample_rate: int
    provenance: list[str]
    tables: list[tuple[str, pd.DataFrame]] = ()
    embeddings: str | None = None
    embeddings_note: str = ""
    curves: bool = False


def write_html_report(out: Path, report: HtmlReport, *, n_listen: int = LISTEN_PER_CELL) -> Path:
    """Write ``out/report.html`` and its ``clips/``.

    Parameters
    ----------
    out : Path
        The report folder (its PNGs are referenced, not copied).
    report : HtmlReport
    n_listen : int
        Clips per confusion cell.

    Returns
    -------
    Path
        ``report.html``.
    """
    import jinja2

    ev, eras = report.evaluation, report.eras
    listen = listening_clips(report.clips, eras, n_listen)
    srcs = write_excerpts(listen, report.shard_dir, out / "clips", report.sample_rate)
    years = ev["tape_table"].set_index("identifier")["year"]
    cells = []
    for (t, p), g in listen.assign(src=srcs).groupby(["cell_true", "cell_pred"], sort=False):
        n_tapes = int(((ev["tape_table"]["true_era"] == t) & (ev["tape_table"]["pred_era"] == p)).sum())
        clips = []
        for r in g.to_dict("records"):  # records, not tuples: era names may hold spaces
            s = float(r["clip_start_s"])
            year = years.get(r["identifier"], np.nan)
            clips.append({"src": r["src"], "identifier": r["identifier"], "time": f"{int(s // 60)}:{s % 60:04.1f}",
                          "year": "" if not np.isfinite(year) else f"{year:.0f}", "fold": r.get("fold"),
                          "probs": ", ".join(f"{e} {r[f'p_{e}']:.2f}" for e in eras)})
        cells.append({"true": t, "pred": p, "n_tapes": n_tapes, "clips": clips})
    rho = ev["spearman_year_vs_expected_era_index"]
    html = jinja2.Environment(autoescape=True).from_string(_TEMPLATE).render(
        title=report.title, intro=report.intro, notes=report.notes, summary=frame_table(report.summary),
        tables=[{"title": t, "html": frame_table(df)} for t, df in report.tables],
        confidence=heat_table(np.array(ev["confidence_matrix"], float), eras),
        confusion_tape=heat_table(np.array(ev["tape"]["confusion"], float), eras, "{:.0f}"),
        confusion_clip=heat_table(np.array(ev["clip"]["confusion"], float), eras, "{:.0f}"),
        per_era_tape=frame_table(pd.DataFrame(ev["tape"]["per_era"])),
        per_era_clip=frame_table(pd.DataFrame(ev["clip"]["per_era"])),
        spearman=(f"Spearman rank correlation between a tape's recording year and its expected era index: "
                  f"rho = {rho['rho']:.3f} (p = {rho['p_value']:.3g}, n = {rho['n']} tapes)."),
        cells=cells, embeddings=report.embeddings, embeddings_note=report.embeddings_note, curves=report.curves,
        provenance=report.provenance)
    path = out / "report.html"
    atomic_write_text(path, html)
    return path
