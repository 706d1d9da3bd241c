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


def _fmt_interval(iv) -> str:
    return "n/a" if not iv or iv[0] is None else f"{iv[0]:.3f} to {iv[1]:.3f}"


def summary_table(models: dict[str, dict]) -> pd.DataFrame:
    """One row per model or baseline: tape and clip scores, with the exact interval of tape accuracy."""
    rows = []
    for name, ev in models.items():
        t, c = ev["tape"], ev["clip"]
        rows.append({"": name, "tapes": t["n"], "tape accuracy": t["accuracy"],
                     "exact interval": _fmt_interval(ev.get("tape_accuracy_exact_interval")),
                     "tape balanced acc.": t["balanced_accuracy"], "tape macro-F1": t["macro_f1"], "clips": c["n"],
                     "clip accuracy": c["accuracy"], "clip macro-F1": c["macro_f1"]})
    return pd.DataFrame(rows)


def interval_lines(ev: dict, unit: str) -> list[str]:
    """Markdown: the bootstrap intervals of ``ev``, or the honest reason there are none."""
    iv = ev.get("intervals")
    if not iv:
        return [f"Bootstrap intervals: {ev.get('interval_note') or 'not computed'} (none given rather than a "
                "misleadingly narrow one).", ""]
    pct = f"{iv['confidence']:.0%}"
    return [f"{pct} confidence intervals ({iv['n_resamples']} bootstrap resamples of the {iv['n_groups']} groups - "
            f"{unit} - within each era; clips of one group are not independent, so groups are the unit): tape "
            f"accuracy {_fmt_interval(iv['tape_accuracy'])}, tape balanced accuracy "
            f"{_fmt_interval(iv['tape_balanced_accuracy'])}, tape macro-F1 {_fmt_interval(iv['tape_macro_f1'])}, clip "
            f"accuracy {_fmt_interval(iv['clip_accuracy'])}, Spearman rho {_fmt_interval(iv['spearman_rho'])}.", ""]


def write_evaluation_files(out: Path, ev: dict, eras: list[str], *, title: str = "") -> None:
    """The tables and plots of one evaluation (:func:`jazzcnn.train.metrics.evaluate`) into ``out``.

    Writes ``tape_predictions.csv``, ``confidence_matrix.csv/.png``, ``confidence_by_diagonal.csv/.png``,
    ``confusion_clip.csv/.png``, ``confusion_tape.csv/.png``, ``per_era_clip.csv``, ``per_era_tape.csv``
    and ``era_vs_year.png``.
    """
    conf = np.array(ev["confidence_matrix"], dtype=float)
    atomic_write_text(out / "tape_predictions.csv", ev["tape_table"].to_csv(index=False))
    atomic_write_text(out / "confidence_matrix.csv", matrix_df(conf, eras).to_csv(index=False))
    atomic_write_text(out / "confidence_by_diagonal.csv", matrix_df(by_diagonal(conf), eras).to_csv(index=False))
    for level in ("clip", "tape"):
        atomic_write_text(out / f"confusion_{level}.csv",
                          matrix_df(np.array(ev[level]["confusion"]), eras).to_csv(index=False))
        atomic_write_text(out / f"per_era_{level}.csv", pd.DataFrame(ev[level]["per_era"]).to_csv(index=False))
        heatmap(np.array(ev[level]["confusion"], float), eras, f"confusion ({level}s){title}", out / f"confusion_{level}.png",
                fmt="{:.0f}")
    heatmap(conf, eras, f"era confidence: mean softmax (clips){title}", out / "confidence_matrix.png")
    heatmap(by_diagonal(conf), eras, f"era confidence / diagonal{title}", out / "confidence_by_diagonal.png")
    era_vs_year_plot(ev["tape_table"], eras, ev["spearman_year_vs_expected_era_index"], out / "era_vs_year.png")


def evaluation_sections(ev: dict, eras: list[str], what: str) -> list[str]:
    """Markdown sections of one evaluation: confidence table, confusion matrices, per-era scores,
    and the study's question (probability against year)."""
    conf = np.array(ev["confidence_matrix"], dtype=float)
    iv = ev.get("intervals")
    rho = ev["spearman_year_vs_expected_era_index"]
    return [
        "## Era confidence (the seed study's table)", "",
        f"Mean softmax probability over the clips of each true era (rows sum to 1), {what}.", "",
        md_table(matrix_df(conf, eras)), "", *(interval_table(conf, iv, eras) if iv else []),
        "![confidence](confidence_matrix.png)", "",
        "Each row divided by its diagonal entry (values above 1: the era is taken for another more than for itself).", "",
        md_table(matrix_df(by_diagonal(conf), eras)), "", "![by diagonal](confidence_by_diagonal.png)", "",
        "## Confusion matrices", "",
        "Clips:", "", md_table(matrix_df(np.array(ev["clip"]["confusion"]), eras), "{:.0f}"), "",
        "Tapes (mean probability over a tape's clips):", "",
        md_table(matrix_df(np.array(ev["tape"]["confusion"]), eras), "{:.0f}"), "",
        "![confusion clips](confusion_clip.png) ![confusion tapes](confusion_tape.png)", "",
        "## Per-era precision, recall, F1", "", "Clips:", "", md_table(pd.DataFrame(ev["clip"]["per_era"])), "",
        "Tapes:", "", md_table(pd.DataFrame(ev["tape"]["per_era"])), "",
        "## Does the confidence follow the years?", "",
        f"Spearman rank correlation between a tape's recording year and its expected era index "
        f"(sum_k p_k k, eras numbered chronologically): **rho = {rho['rho']:.3f}** (p = {rho['p_value']:.3g}, "
        f"n = {rho['n']} tapes" + (f"; {iv['confidence']:.0%} interval {_fmt_interval(iv['spearman_rho'])}" if iv else "")
        + ").", "", "![era vs year](era_vs_year.png)", "",
    ]


def provenance_lines(prov: dict, train_revisions: list[str], config: dict) -> list[str]:
    """Markdown: git revisions, hashes and the training configuration."""
    return [
        "## Provenance", "",
        f"- git revision (scoring): `{prov['git_revision']}`",
        *[f"- git revision (training): `{r}`" for r in sorted(set(train_revisions))],
        *([f"- model sha256: `{prov['model_sha256']}`"] if prov.get("model_sha256") else []),
        *[f"- {name} sha256: `{h}`" for name, h in prov["manifest_sha256"].items()],
        "", "Training configuration:", "", "```json", json.dumps(config, indent=2, default=str), "```", "",
    ]


def control_line(config: dict) -> str:
    """How the study was run with respect to the recording-technology control."""
    hz = config.get("bandlimit_hz")
    if hz:
        return (f"**Recording-technology control on:** every clip was band-limited to {hz:g} Hz and scaled to one "
                "level before the models saw it, so era cues from bandwidth and level are equalised.")
    return ("**Recording-technology control off:** the models heard each tape's full band and level; era cues from "
            "the recording chain (78s, tape, LP) may carry part of these scores. Run again with `BANDLIMIT_HZ=3500` "
            "to take them away.")


def write_report(out: Path, cfg, run: dict, metrics: dict, ev: dict, prov: dict, has_curves: bool) -> None:
    """``report.md`` of a single-split ``jazzcnn score``."""
    eras = metrics["eras"]
    tc = run["config"]
    models = {"model": ev, "majority baseline": {
        "tape": metrics["baseline_tape"], "clip": metrics["baseline_clip"],
        "tape_accuracy_exact_interval": metrics.get("baseline_tape_exact_interval")}}
    md = [
        f"# Era scores for run `{cfg.run}` ({cfg.split} tapes)",
        "",
        f"{metrics['n_test_tapes']} held-out tapes, {metrics['n_test_clips']} clips of "
        f"{run['classes']['clip_samples'] / run['classes']['sample_rate']:g} s (preset `{tc.get('preset')}`, "
        + ("the data set's published split (`SPLIT=fixed`)" if tc.get("split") == "fixed" else f"split by `{tc.get('group')}`")
        + f", straddle policy `{tc.get('straddle')}`). None of these tapes was used for "
        "training or early stopping.",
        "",
        "> One split says as much about which tapes fell where as about the eras. For figures one can "
        "cite, run `make crossval`: every tape predicted once, out of fold, beside a majority and a linear baseline.",
        "", control_line(tc), "", *model_lines(run.get("summary") or {}, tc),
        f"A tape's score is {TAPE_SCORE}.", "",
        "## Summary", "", md_table(summary_table(models)), "",
        "The exact (Clopper-Pearson) interval of tape accuracy treats tapes as independent.", "",
        *interval_lines(ev, f"split by `{tc.get('group')}`"),
        *evaluation_sections(ev, eras, "held-out clips"),
    ]
    if has_curves:
        md += ["## Training curves", "", "![training curves](training_curves.png)", ""]
    md += commentary_section(run["manifests_dir"], run["split"], cfg.split)
    rev = json.loads((run["dir"] / "provenance.json").read_text()).get("git_revision", "unknown") \
        if (run["dir"] / "provenance.json").exists() else "unknown"
    md += provenance_lines(prov, [rev], tc)
    md += ["Files: metrics.json, confidence_matrix.csv, confidence_by_diagonal.csv, confusion_clip.csv, confusion_tape.csv, "
           "per_era_clip.csv, per_era_tape.csv, clip_predictions.csv, tape_predictions.csv, provenance.json.", ""]
    atomic_write_text(out / "report.md", "\n".join(md))


#: How a tape's score is made from its clips', in the reports' words.
TAPE_SCORE = ("the mean of its clips' softmax probabilities (not of their log-probabilities: the study reads mean "
              "softmax confidence, and a mean of probabilities is not dominated by a few clips the model is sure are "
              "another era, such as leftover speech)")


def model_lines(summary: dict, config: dict) -> list[str]:
    """Markdown: the preset, learning rate and hyperparameters a run's model was trained with, and any tuning."""
    hp = summary.get("hyperparameters") or {}
    tuning = summary.get("tuning")
    line = (f"Model: preset `{config.get('preset')}`, learning rate {summary.get('learning_rate', config.get('learning_rate')):g}"
            + (", hyperparameters " + ", ".join(f"{k}={v:g}" for k, v in hp.items()) if hp else " (published settings)"))
    if tuning:
        line += (f"; {', '.join(f'{k}={v:g}' for k, v in tuning['chosen_values'].items())} chosen among "
                 f"{tuning['candidates']} candidates by {tuning['criterion']} on the validation tapes (tuning.csv in the "
                 "run folder)")
    return [line + ".", ""]


def model_names(preset: str, evs: dict, *, markdown: bool = False) -> dict[str, str]:
    """Display names of a cross-validation's models: ``cnn`` (the run's preset), ``cnn:<preset>`` (presets
    compared on the same folds), ``linear`` and ``majority``; preset names in code style for Markdown."""
    q = "`" if markdown else ""
    names = {"linear": "linear baseline", "majority": "majority baseline"}
    return {k: names.get(k, f"CNN ({q}{k.partition(':')[2] or preset}{q})") for k in evs}


def comparison_names(label: str, preset: str) -> tuple[str, str]:
    """The two models of a comparison key of ``metrics.json`` (``cnn_vs_linear``, ``seed3s_vs_linear``,
    ``cnn_vs_seed3s``) in words."""
    a, _, b = label.partition("_vs_")
    word = lambda x: {"cnn": f"CNN ({preset})", "linear": "the linear baseline"}.get(x, f"CNN ({x})")  # noqa: E731
    return word(a), word(b)


def hyperparameter_lines(metrics: dict) -> list[str]:
    """Markdown: the learning rate and hyperparameters each fold's model was trained with, and what tuning chose."""
    lines = []
    for preset, rows in [(metrics["preset"], metrics.get("hyperparameters") or [])] + [
            (name, m.get("hyperparameters") or []) for name, m in (metrics.get("compared") or {}).items()]:
        if not rows:
            continue
        tuned = [r for r in rows if r.get("tuned")]
        hp = rows[0]["hyperparameters"]
        fixed = ", ".join(f"{k}={v:g}" for k, v in hp.items() if not any(k in (r["tuned"] or {}) for r in tuned))
        lines.append(f"- `{preset}`: " + (f"hyperparameters {fixed}; " if fixed else "published settings; ")
                     + ("chosen per fold on that fold's validation part (never its test tapes): "
                        + "; ".join(f"fold {r['fold']}: " + ", ".join(f"{k}={v:g}" for k, v in r["tuned"].items())
                                    for r in tuned) if tuned else f"learning rate {rows[0]['learning_rate']:g}") + ".")
    return ["## Models and their settings", "", *lines, ""] if lines else []


def write_crossval_report(out: Path, cfg, metrics: dict, evs: dict[str, dict], folds: pd.DataFrame, prov: dict,
                          train_revisions: list[str], config: dict, manifests_dir: Path) -> None:
    """``report.md`` of a cross-validation: every tape predicted once, models and baselines side by side."""
    eras = metrics["eras"]
    names = model_names(config.get("preset"), evs, markdown=True)
    models = {names[k]: ev for k, ev in evs.items()}
    unit = f"folds by `{config.get('group')}`"
    md = [
        f"# Cross-validated era scores: `{cfg.run}`", "",
        f"{metrics['n_tapes']} labelled tapes in {cfg.folds} folds by `{config.get('group')}` (scikit-learn's "
        f"StratifiedGroupKFold: groups never split, stratified by era, seed {config.get('seed')}). Each fold's model "
        "was trained on the other folds (a validation part carved out of them by group, for early stopping) and "
        f"predicted its own fold: every tape below was predicted exactly once, by a model that never saw it. Clips of "
        f"{config.get('clip_seconds'):g} s on a fixed grid (each compared preset: its own clip length); a tape's score "
        f"is {metrics.get('tape_score', 'the mean of its clips probabilities')}.", "",
        control_line(config), "",
        "## Summary", "", md_table(summary_table(models)), "",
        "The exact (Clopper-Pearson) interval of tape accuracy treats tapes as independent; with `GROUP=artist` "
        "tapes of one artist are not, so read it as a lower bound on the uncertainty.", "",
        *interval_lines(evs["cnn"], unit),
        *hyperparameter_lines(metrics),
    ]
    for label, comp in (metrics.get("comparison") or {}).items():
        a, b = comparison_names(label, config.get("preset"))
        mc, pb = comp["mcnemar"], comp["paired_bootstrap"]
        md += [f"## {a} against {b}, on the same tapes", "",
               f"Tapes the first got right and the second wrong: {mc['a_only']}; the reverse: {mc['b_only']} "
               f"(of {mc['n']}). Exact McNemar test: **p = {mc['p_value']:.3g}**.",
               (f"Difference in tape accuracy (first - second): {pb['difference']:+.3f}, "
                f"{metrics['confidence']:.0%} paired bootstrap interval {_fmt_interval(pb['interval'])} "
                f"(p = {pb['p_value']:.3g}, {pb['n_resamples']} resamples of groups within eras)." if pb else
                "Paired bootstrap: too few groups per era for an interval."), ""]
    per_fold = pd.DataFrame(evs["cnn"]["per_fold"]).rename(columns={"tape_accuracy": "CNN tape acc.",
                                                                     "clip_accuracy": "CNN clip acc."})
    for key in [k for k in evs if k != "cnn"]:
        other = pd.DataFrame(evs[key]["per_fold"])
        per_fold[f"{key.partition(':')[2] or key} tape acc."] = other["tape_accuracy"].to_numpy()
    spread = evs["cnn"]["fold_spread"]
    md += ["## Per fold", "", md_table(per_fold), "",
           f"CNN tape accuracy over the folds: mean {spread['tape_accuracy_mean']:.3f}, standard deviation "
           f"{spread['tape_accuracy_sd']:.3f}, range {spread['tape_accuracy_min']:.3f} to {spread['tape_accuracy_max']:.3f}.", ""]
    md += evaluation_sections(evs["cnn"], eras, "all out-of-fold clips of the CNN")
    if "linear" in evs:
        rho = evs["linear"]["spearman_year_vs_expected_era_index"]
        md += [f"The linear baseline's Spearman rho on the same tapes: {rho['rho']:.3f} (p = {rho['p_value']:.3g}).", ""]
    md += commentary_section(manifests_dir, folds.assign(split="test"), "test")
    md += provenance_lines(prov, train_revisions, config)
    md += ["Files: metrics.json (the CNN's scores, `compared` and `baselines` with the same keys, `comparison`, "
           "`per_fold`, `hyperparameters`), folds.csv, "
           "clip_predictions.csv and tape_predictions.csv (one row per tape, with its fold; the CNN's), "
           "baseline_tape_predictions.csv, confidence_matrix.csv, confusion_*.csv, per_era_*.csv, provenance.json.", ""]
    atomic_write_text(out / "report.md", "\n".join(md))
