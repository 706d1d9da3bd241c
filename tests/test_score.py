"""``jazzcnn score``: report files exist and their numbers agree with each other."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from jazzcnn.train.config import ScoreConfig
from jazzcnn.commands import run_score, run_train
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.train.metrics import bootstrap_intervals, by_diagonal, classification_metrics, confidence_matrix, expected_era_index, spearman

FILES = ["report.md", "metrics.json", "confidence_matrix.csv", "confidence_matrix.png", "confidence_by_diagonal.csv",
         "confidence_by_diagonal.png", "confusion_clip.csv", "confusion_clip.png", "confusion_tape.csv",
         "confusion_tape.png", "per_era_clip.csv", "per_era_tape.csv", "clip_predictions.csv", "tape_predictions.csv",
         "era_vs_year.png", "training_curves.png", "provenance.json"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    data = write_synthetic(root, tapes_per_era=5, segments_per_tape=2, segment_seconds=2.5)
    assert run_train(tiny_train_config(data, root / "runs", "sc", epochs=2)) == 0
    cfg = ScoreConfig(runs_dir=root / "runs", run="sc", reports_dir=root / "reports", data_dir=data["data_dir"])
    assert run_score(cfg) == 0
    return root / "reports" / "sc", root / "runs" / "sc"


def test_files_exist(report):
    out, _ = report
    for f in FILES:
        assert (out / f).exists() and (out / f).stat().st_size > 0, f
    md = (out / "report.md").read_text()
    for img in re.findall(r"\]\(([^)]+\.png)\)", md):
        assert (out / img).exists(), img
    assert "git revision" in md and "tracks.csv sha256" in md and "Spearman" in md
    assert "Model: preset `seed3s`, learning rate 0.001 (published settings)." in md
    assert "A tape's score is the mean of its clips' softmax probabilities" in md


def test_numbers_agree(report):
    out, run = report
    m = json.loads((out / "metrics.json").read_text())
    clips = pd.read_csv(out / "clip_predictions.csv")
    tapes = pd.read_csv(out / "tape_predictions.csv")
    split = pd.read_csv(run / "split.csv", keep_default_na=False)
    eras = m["eras"]
    test_tapes = set(split.loc[split["split"] == "test", "identifier"])

    # confidence rows sum to 1 and match the clip predictions
    conf = pd.read_csv(out / "confidence_matrix.csv").iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(conf.sum(1), 1.0, atol=1e-5)
    for i, e in enumerate(eras):
        np.testing.assert_allclose(conf[i], clips[clips["true_era"] == e][[f"p_{x}" for x in eras]].mean(0), atol=1e-6)
    diag = pd.read_csv(out / "confidence_by_diagonal.csv").iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(np.diag(diag), 1.0)
    np.testing.assert_allclose(diag, conf / np.diag(conf)[:, None], rtol=1e-5)

    # confusion totals = test clips / test tapes
    cc = pd.read_csv(out / "confusion_clip.csv").iloc[:, 1:].to_numpy()
    ct = pd.read_csv(out / "confusion_tape.csv").iloc[:, 1:].to_numpy()
    assert cc.sum() == len(clips) == m["n_test_clips"] == m["clip"]["n"]
    assert ct.sum() == len(tapes) == len(test_tapes) == m["n_test_tapes"] == m["tape"]["n"]
    assert set(tapes["identifier"]) == test_tapes == set(clips["identifier"])
    assert tapes["n_clips"].sum() == len(clips)
    assert m["clip"]["accuracy"] == pytest.approx(np.trace(cc) / cc.sum())
    assert m["tape"]["accuracy"] == pytest.approx(np.trace(ct) / ct.sum())
    assert m["clip"]["accuracy"] == pytest.approx((clips["true_era"] == clips["pred_era"]).mean())
    per = pd.read_csv(out / "per_era_clip.csv")
    assert per["support"].tolist() == cc.sum(1).tolist()
    # baseline predicts one era for every clip
    bc = np.array(m["baseline_clip"]["confusion"])
    assert bc.sum() == len(clips) and (bc.sum(0) > 0).sum() == 1
    # tape probabilities are the mean of their clips, expected index from them
    t0 = tapes.iloc[0]
    mean = clips[clips["identifier"] == t0["identifier"]][[f"p_{e}" for e in eras]].mean(0).to_numpy()
    np.testing.assert_allclose(t0[[f"p_{e}" for e in eras]].to_numpy(float), mean, atol=1e-6)
    assert t0["expected_index"] == pytest.approx(float(mean @ np.arange(len(eras))))
    rho = m["spearman_year_vs_expected_era_index"]
    assert rho["n"] == len(tapes) and -1 <= rho["rho"] <= 1
    assert m["tape"]["majority_baseline_accuracy"] == m["baseline_tape"]["accuracy"]


def test_separable_tones_beat_the_baseline_on_held_out_tapes(report):
    # a short run must already generalise (inference-mode normalisation same as training's)
    m = json.loads((report[0] / "metrics.json").read_text())
    assert m["clip"]["accuracy"] > max(0.8, m["baseline_clip"]["accuracy"])
    assert m["clip"]["balanced_accuracy"] > 0.8


def test_metric_helpers():
    y = np.array([0, 0, 1, 2])
    p = np.array([[0.8, 0.2, 0], [0.6, 0.4, 0], [0.1, 0.9, 0], [0.5, 0.0, 0.5]])
    c = confidence_matrix(y, p, 3)
    np.testing.assert_allclose(c[0], [0.7, 0.3, 0.0])
    np.testing.assert_allclose(by_diagonal(c)[0], [1.0, 0.3 / 0.7, 0.0])
    m = classification_metrics(y, p.argmax(1), ["a", "b", "c"])
    assert m["accuracy"] == 0.75 and np.sum(m["confusion"]) == 4
    np.testing.assert_allclose(expected_era_index(p), [0.2, 0.4, 0.9, 1.0])
    assert spearman([1, 2, 3, 4], [1, 3, 2, 5])["rho"] == pytest.approx(0.8)
    assert np.isnan(spearman([1, 2], [1, 2])["rho"])


def test_too_few_test_tapes_give_no_interval_rather_than_a_narrow_one(report):
    out, _ = report
    m = json.loads((out / "metrics.json").read_text())
    assert m["intervals"] is None and min(m["groups_per_era"]) < 5
    assert m["interval_note"].startswith("too few tapes for an interval")
    md = (out / "report.md").read_text()
    assert "too few tapes for an interval" in md and "0 to 1.000" not in md
    # the exact binomial interval of tape accuracy is still given, and holds the estimate
    lo, hi = m["tape_accuracy_exact_interval"]
    assert 0 <= lo <= m["tape"]["accuracy"] <= hi <= 1 and hi - lo > 0.2  # few tapes: wide
    assert "make crossval" in md


def _clip_frame(n_per_era: int, n_eras: int, hit_rate: float, clips_per_tape: int = 3, seed: int = 0):
    """Clips of ``n_per_era`` tapes per era; each tape's clips right with probability ``hit_rate``."""
    rng = np.random.default_rng(seed)
    eras = [f"e{k}" for k in range(n_eras)]
    rows, tapes = [], []
    for k in range(n_eras):
        for t in range(n_per_era):
            ident = f"e{k}-t{t}"
            pred = k if rng.random() < hit_rate else (k + 1) % n_eras
            for _ in range(clips_per_tape):
                p = np.full(n_eras, 0.1 / (n_eras - 1))
                p[pred] = 0.9
                rows.append({"identifier": ident, "y": k, **{f"p_{e}": p[j] for j, e in enumerate(eras)}})
            tapes.append({"identifier": ident, "y": k, "year": 1925.0 + 10 * k + rng.random(), "group": ident})
    return pd.DataFrame(rows), pd.DataFrame(tapes).set_index("identifier"), eras


def test_evaluate_gives_intervals_holding_the_estimates_when_groups_suffice():
    from jazzcnn.train.metrics import evaluate

    clips, tapes, eras = _clip_frame(8, 3, 0.7)
    ev = evaluate(clips, tapes, eras, bootstrap=400, seed=1)
    iv = ev["intervals"]
    assert iv is not None and iv["n_groups"] == 24 and iv["groups_per_era"] == [8, 8, 8]
    for key, point in (("tape_accuracy", ev["tape"]["accuracy"]), ("clip_accuracy", ev["clip"]["accuracy"]),
                       ("tape_macro_f1", ev["tape"]["macro_f1"])):
        lo, hi = iv[key]
        assert 0 <= lo <= point <= hi <= 1 and hi > lo, key
    conf = np.array(ev["confidence_matrix"], float)
    lo, hi = np.array(iv["confidence_matrix_low"], float), np.array(iv["confidence_matrix_high"], float)
    assert np.all(lo <= conf + 1e-9) and np.all(conf <= hi + 1e-9)
    # the same data with 4 tapes per era: no interval, and the note says why
    few = evaluate(*_clip_frame(4, 3, 0.7)[:2], eras, bootstrap=400)
    assert few["intervals"] is None and "an era has only 4 group(s)" in few["interval_note"]
    assert evaluate(clips, tapes, eras, bootstrap=0)["interval_note"].startswith("bootstrap intervals switched off")


def test_exact_interval_mcnemar_and_paired_bootstrap():
    from scipy.stats import binomtest

    from jazzcnn.train.metrics import clopper_pearson, mcnemar_exact, paired_bootstrap_difference

    lo, hi = clopper_pearson(7, 10)
    ci = binomtest(7, 10).proportion_ci(method="exact")
    assert (lo, hi) == pytest.approx((ci.low, ci.high)) and clopper_pearson(0, 0) == [None, None]
    assert clopper_pearson(10, 10)[1] == 1.0 and clopper_pearson(10, 10)[0] < 1.0
    a = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 1], bool)
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1], bool)
    mc = mcnemar_exact(a, b)
    assert (mc["a_only"], mc["b_only"]) == (6, 0) and mc["p_value"] == pytest.approx(binomtest(6, 6, 0.5).pvalue)
    assert mcnemar_exact(a, a)["p_value"] == 1.0
    groups, strata = np.arange(10), np.zeros(10)
    pb = paired_bootstrap_difference(a, b, groups, strata, n_resamples=300, seed=0)
    assert pb["difference"] == pytest.approx(0.6) and 0 < pb["interval"][0] < 0.6 < pb["interval"][1] and pb["p_value"] < 0.05


def _tapes(n_per_era: int, n_eras: int, hit_rate: float, seed: int = 0):
    """Per-tape inputs of :func:`bootstrap_intervals`: each tape right with probability ``hit_rate``."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_eras), n_per_era)
    right = rng.random(y.size) < hit_rate
    pred = np.where(right, y, (y + 1) % n_eras)
    probs = np.full((y.size, n_eras), 0.1 / (n_eras - 1))
    probs[np.arange(y.size), pred] = 0.9
    n = np.full(y.size, 10)
    correct = np.where(right, 10, 0)
    years = 1925.0 + 10 * y + rng.random(y.size)
    return y, probs, correct, n, probs * 10, years


def test_bootstrap_intervals_behave():
    y, probs, correct, n, psum, years = _tapes(10, 4, 0.7)
    ids = np.array([f"t{i}" for i in range(y.size)])
    a = bootstrap_intervals(y, probs, correct, n, psum, years, ids, n_resamples=400, seed=3)
    b = bootstrap_intervals(y, probs, correct, n, psum, years, ids, n_resamples=400, seed=3)
    assert a == b  # seeded
    acc = float(np.mean(probs.argmax(1) == y))
    lo, hi = a["tape_accuracy"]
    assert lo < acc < hi and hi - lo > 0.1  # 40 tapes at 70 %: about +-0.14
    # Ten times the tapes: a much narrower interval around the same rate.
    y2, probs2, correct2, n2, psum2, years2 = _tapes(100, 4, 0.7, seed=1)
    w2 = np.diff(bootstrap_intervals(y2, probs2, correct2, n2, psum2, years2, np.arange(y2.size), n_resamples=400)
                 ["tape_accuracy"])[0]
    assert w2 < 0.5 * (hi - lo)
    # A perfect classifier has no uncertainty to show.
    perfect = np.eye(4)[y]
    p = bootstrap_intervals(y, perfect, n, n, perfect * 10, years, ids, n_resamples=200)
    assert p["tape_accuracy"] == [1.0, 1.0] and p["tape_macro_f1"] == [1.0, 1.0]
    np.testing.assert_allclose(np.array(p["confidence_matrix_low"], float), np.eye(4))


def test_bootstrap_resamples_whole_groups():
    """Two artists, each always right or always wrong on all of its tapes: with the artist as the
    unit, the interval spans the chance that a resample draws one artist twice; with tapes as the
    unit, the many tapes make it look far more certain than it is."""
    y, probs, correct, n, psum, years = _tapes(20, 2, 1.0)
    artist = np.where(np.arange(40) % 4 < 2, "a", "b")  # each artist has tapes of both eras
    wrong = artist == "b"
    probs[wrong] = probs[wrong][:, ::-1]
    by_artist = bootstrap_intervals(y, probs, correct, n, psum, years, artist, n_resamples=300)
    by_tape = bootstrap_intervals(y, probs, correct, n, psum, years, np.arange(40), n_resamples=300)
    w_artist = np.diff(by_artist["tape_accuracy"])[0]
    w_tape = np.diff(by_tape["tape_accuracy"])[0]
    assert by_artist["n_groups"] == 2 and w_artist > 2 * w_tape


def test_bad_interval_settings_are_refused(report, capsys):
    out, run = report
    from jazzcnn.core.settings import SettingsError

    with pytest.raises(SettingsError, match="setting confidence: Input should be less than 1, got 1.5"):
        ScoreConfig(runs_dir=run.parent, run=run.name, reports_dir=out.parent / "other", data_dir=run.parent,
                    confidence=1.5)
