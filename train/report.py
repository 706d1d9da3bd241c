"""The report folder of a scored run: plots (Matplotlib, written as PNG) and ``report.md``.

Only this module draws or writes the human-readable report; the numbers come from
:mod:`jazzcnn.train.metrics` and the command from :mod:`jazzcnn.train.scoring`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.acquire.manifests import read_commentary
from jazzcnn.core.errors import ManifestError
from jazzcnn.core.files import atomic_write_text
from jazzcnn.core.paths import ManifestPaths
from jazzcnn.train.metrics import by_diagonal


def heatmap(matrix: np.ndarray, eras: list[str], title: str, path: Path, fmt: str = "{:.2f}", xlabel="predicted era") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(eras) + 3, 1.0 * len(eras) + 2.5))
    im = ax.imshow(np.nan_to_num(matrix.astype(float)), cmap="viridis")
    ax.set_xticks(range(len(eras)), eras, rotation=45, ha="right")
    ax.set_yticks(range(len(eras)), eras)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("true era")
    ax.set_title(title)
    hi = np.nanmax(matrix) if np.isfinite(matrix).any() else 1
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            ax.text(j, i, "-" if not np.isfinite(v) else fmt.format(v), ha="center", va="center",
                    color="black" if np.isfinite(v) and v > 0.6 * hi else "white", fontsize=8)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def era_vs_year_plot(tapes: pd.DataFrame, eras: list[str], rho: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, era in enumerate(eras):
        a1.scatter(tapes["year"], tapes[f"p_{era}"], s=18, label=era, alpha=0.8)
    a1.set_xlabel("recording year (middle of the tape's range)")
    a1.set_ylabel("mean probability over the tape's clips")
    a1.set_title("test tapes: era probabilities against year")
    a1.legend(fontsize=7)
    sc = a2.scatter(tapes["year"], tapes["expected_index"], c=tapes["true_index"], cmap="viridis", s=18)
    a2.set_yticks(range(len(eras)), eras)
    a2.set_xlabel("recording year")
    a2.set_ylabel("expected era index  sum_k p_k k")
    a2.set_title(f"Spearman rho = {rho['rho']:.3f} (p = {rho['p_value']:.3g}, n = {rho['n']})")
    fig.colorbar(sc, ax=a2, label="true era index")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_plot(history: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = history["epoch"] + 1 if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        for col, style in ((key, "-"), (f"val_{key}", "--")):
            if col in history:
                ax.plot(x, history[col], style, marker="o", label=col)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def md_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def matrix_df(m: np.ndarray, eras: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(m, columns=eras)
    df.insert(0, "true \\ predicted", eras)
    return df


def commentary_section(manifests_dir: Path, split: pd.DataFrame, which: str) -> list[str]:
    """Markdown lines showing what the preprocess stage cut from the scored tapes, and why.

    Reads ``commentary_summary.csv`` and ``commentary.csv`` of ``manifests_dir`` (the run's own);
    returns a short note instead when preprocessing left no readable audit trail there.
    """
    paths = ManifestPaths(manifests_dir)
    try:
        summary = read_commentary(paths.commentary_summary, summary=True)
    except ManifestError as e:
        return ["## Commentary removed", "", f"No commentary audit could be read: {e}", ""]
    tapes = set(split.loc[split["split"] == which, "identifier"]) if which in set(split.get("split", [])) \
        else set(split["identifier"])
    mine = summary[summary["identifier"].isin(tapes)]
    cols = [c for c in ("duration_s", "kept_s", "speech_s", "speech_over_music_s", "silence_s", "head_s", "tail_s",
                        "short_s") if c in summary]
    totals = summary[cols].sum()
    md = [
        "## Commentary removed", "",
        f"Whole collection: {totals.get('duration_s', 0) / 3600:.2f} h of audio, {totals.get('kept_s', 0) / 3600:.2f} h kept as "
        f"music, {(totals.get('speech_s', 0) + totals.get('speech_over_music_s', 0)) / 3600:.2f} h of speech "
        f"(Niven's introductions, {totals.get('speech_over_music_s', 0) / 3600:.2f} h of it over music) removed. "
        f"Every removed span is listed in `{paths.commentary}` so it can be listened to.", "",
        f"Scored tapes ({which}), seconds per file:", "",
        md_table(mine[["identifier"] + cols].reset_index(drop=True), "{:.1f}"), "",
    ]
    try:
        spans = read_commentary(paths.commentary)
    except ManifestError:
        return md
    spans = spans[spans["identifier"].isin(tapes)].head(12)
    if len(spans):
        md += ["First removed spans of these tapes:", "", md_table(spans.reset_index(drop=True), "{:.2f}"), ""]
    return md


def interval_table(conf: np.ndarray, iv: dict, eras: list[str]) -> list[str]:
    """Markdown lines: the confidence matrix as ``mean [low, high]`` per cell."""
    lo, hi = iv["confidence_matrix_low"], iv["confidence_matrix_high"]
    cells = [[("n/a" if lo[i][j] is None or not np.isfinite(conf[i, j])
               else f"{conf[i, j]:.2f} [{lo[i][j]:.2f}, {hi[i][j]:.2f}]") for j in range(len(eras))]
             for i in range(len(eras))]
    table = matrix_df(np.array(cells, dtype=object), eras)
    return [f"With {iv['confidence']:.0%} bootstrap intervals (resampling test groups within each era):", "",
            md_table(table), ""]


def write_report(out: Path, cfg, run: dict, metrics: dict, conf: np.ndarray, clip_m: dict, tape_m: dict,
                  prov: dict, has_curves: bool) -> None:
    eras = metrics["eras"]
    rows = []
    for level in ("clip", "tape"):
        for name, key in ((f"model ({level}s)", level), (f"majority baseline ({level}s)", f"baseline_{level}")):
            m = metrics[key]
            rows.append({"": name, "n": m["n"], "accuracy": m["accuracy"], "balanced accuracy": m["balanced_accuracy"],
                         "macro-F1": m["macro_f1"]})
    rho = metrics["spearman_year_vs_expected_era_index"]
    iv = metrics.get("intervals")
    tc = run["config"]
    ci_lines = []
    if iv:
        pct = f"{iv['confidence']:.0%}"

        def ci(key):
            lo, hi = iv[key]
            return "n/a" if lo is None else f"{lo:.3f} to {hi:.3f}"

        ci_lines = [
            f"{pct} confidence intervals ({iv['n_resamples']} bootstrap resamples of the {iv['n_groups']} test groups "
            f"- split by `{tc.get('group')}` - within each era; clips of one group are not independent, so groups are "
            f"the unit): tape accuracy {ci('tape_accuracy')}, tape balanced accuracy {ci('tape_balanced_accuracy')}, "
            f"tape macro-F1 {ci('tape_macro_f1')}, clip accuracy {ci('clip_accuracy')}.", "",
        ]
        few = [f"{e} ({n})" for e, n in zip(eras, iv["groups_per_era"]) if n < 5]
        if few:
            ci_lines += [f"Caution: eras with fewer than 5 test groups - {', '.join(few)} - give the bootstrap too "
                         "little to resample; these intervals understate the uncertainty.", ""]
    md = [
        f"# Era scores for run `{cfg.run}` ({cfg.split} tapes)",
        "",
        f"{metrics['n_test_tapes']} held-out tapes, {metrics['n_test_clips']} clips of "
        f"{run['classes']['clip_samples'] / run['classes']['sample_rate']:g} s (preset `{tc.get('preset')}`, "
        f"split by `{tc.get('group')}`, straddle policy `{tc.get('straddle')}`). None of these tapes was used for "
        "training or early stopping.",
        "",
        "## Summary", "", md_table(pd.DataFrame(rows)), "", *ci_lines,
        "## Era confidence (the seed study's table)", "",
        "Mean softmax probability over the clips of each true era (rows sum to 1).", "",
        md_table(matrix_df(conf, eras)), "", *(interval_table(conf, iv, eras) if iv else []),
        "![confidence](confidence_matrix.png)", "",
        "Each row divided by its diagonal entry (values above 1: the era is taken for another more than for itself).", "",
        md_table(matrix_df(by_diagonal(conf), eras)), "", "![by diagonal](confidence_by_diagonal.png)", "",
        "## Confusion matrices", "",
        "Clips:", "", md_table(matrix_df(np.array(clip_m["confusion"]), eras), "{:.0f}"), "",
        "Tapes (mean probability over a tape's clips):", "", md_table(matrix_df(np.array(tape_m["confusion"]), eras), "{:.0f}"), "",
        "![confusion clips](confusion_clip.png) ![confusion tapes](confusion_tape.png)", "",
        "## Per-era precision, recall, F1", "", "Clips:", "", md_table(clip_m["per_era"]), "",
        "Tapes:", "", md_table(tape_m["per_era"]), "",
        "## Does the confidence follow the years?", "",
        f"Spearman rank correlation between a test tape's recording year and its expected era index "
        f"(sum_k p_k k, eras numbered chronologically): **rho = {rho['rho']:.3f}** (p = {rho['p_value']:.3g}, "
        f"n = {rho['n']} tapes" + (f"; {iv['confidence']:.0%} interval {ci('spearman_rho')}" if iv else "") + ").",
        "", "![era vs year](era_vs_year.png)", "",
    ]
    if has_curves:
        md += ["## Training curves", "", "![training curves](training_curves.png)", ""]
    md += commentary_section(run["manifests_dir"], run["split"], cfg.split)
    md += [
        "## Provenance", "",
        f"- git revision (scoring): `{prov['git_revision']}`",
        f"- git revision (training): `{json.loads((run['dir'] / 'provenance.json').read_text()).get('git_revision') if (run['dir'] / 'provenance.json').exists() else 'unknown'}`",
        f"- model sha256: `{prov.get('model_sha256')}`",
    ] + [f"- {name} sha256: `{h}`" for name, h in prov["manifest_sha256"].items()] + [
        "", "Training configuration:", "", "```json", json.dumps(tc, indent=2), "```", "",
        "Files: metrics.json, confidence_matrix.csv, confidence_by_diagonal.csv, confusion_clip.csv, confusion_tape.csv, "
        "per_era_clip.csv, per_era_tape.csv, clip_predictions.csv, tape_predictions.csv, provenance.json.", "",
    ]
    atomic_write_text(out / "report.md", "\n".join(md))
