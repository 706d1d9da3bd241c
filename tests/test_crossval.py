"""Cross-validation: every tape predicted once out of fold, baselines on the same clips, resumable, honest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jazzcnn.cli import main as cli_main
from jazzcnn.testing.shards import write_synthetic
from jazzcnn.train.bandlimit import bandlimit
from jazzcnn.train.config import CrossvalConfig
from jazzcnn.train.splits import SplitError, fold_split, make_folds

SETTINGS = dict(preset="seed3s", folds=3, clip_seconds=1.0, epochs=2, batch_size=8, learning_rate=1e-3, bootstrap=200)


def _cfg(data, root, **kw) -> CrossvalConfig:
    return CrossvalConfig(data_dir=data["data_dir"], manifests_dir=data["manifests_dir"], runs_dir=root / "runs",
                          reports_dir=root / "reports", **(SETTINGS | kw))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("cv") / "c", tapes_per_era=6, segments_per_tape=2,
                           segment_seconds=2.5, artists_per_era=3)


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    from jazzcnn.train.crossval import crossval

    return crossval(_cfg(data, tmp_path_factory.mktemp("cvrun"), compare=["jazzcnn-lite"]), verbose=0)


def test_folds_partition_the_tapes_by_group_reproducibly(data):
    from jazzcnn.acquire.manifests import load_eras, load_tracks
    from jazzcnn.train.labels import resolve_labels

    labels = resolve_labels(load_tracks(data["manifests_dir"] / "tracks.csv"), load_eras(data["manifests_dir"] / "eras.csv"))
    folds = make_folds(labels, group="artist", folds=3, seed=7)
    assert sorted(folds["identifier"]) == sorted(labels["identifier"])  # every tape in exactly one fold
    assert folds.groupby("group")["fold"].nunique().max() == 1          # no artist in two folds
    assert set(folds["fold"]) == {0, 1, 2}
    pd.testing.assert_frame_equal(folds, make_folds(labels, group="artist", folds=3, seed=7))
    for k in range(3):
        split = fold_split(folds, k)
        assert set(split.loc[split["split"] == "test", "identifier"]) == set(folds.loc[folds["fold"] == k, "identifier"])
        for part in ("train", "val"):
            assert set(split.loc[split["split"] == part, "era"]) == set(labels["era"])
        assert split.groupby("group")["split"].nunique().max() == 1
    with pytest.raises(SplitError, match=r"era '\w+' has 3 artists with audio, fewer than the 4 folds: use a "
                                         r"smaller FOLDS \(at most 3\) or GROUP=tape"):
        make_folds(labels, group="artist", folds=4)


def test_every_tape_is_predicted_once_by_a_model_that_never_saw_it(result):
    folds = result.folds
    tapes = pd.read_csv(result.report_dir / "tape_predictions.csv")
    assert sorted(tapes["identifier"]) == sorted(folds["identifier"]) and not tapes["identifier"].duplicated().any()
    assert dict(zip(tapes["identifier"], tapes["fold"])) == dict(zip(folds["identifier"], folds["fold"]))
    for k in range(3):
        split = pd.read_csv(result.run_dir / f"fold-{k}" / "split.csv")
        held = set(tapes.loc[tapes["fold"] == k, "identifier"])
        assert held == set(split.loc[split["split"] == "test", "identifier"])
        assert not held & set(split.loc[split["split"] != "test", "identifier"])
    clips = pd.read_csv(result.report_dir / "clip_predictions.csv")
    assert tapes["n_clips"].sum() == len(clips) == result.metrics["n_clips"]


def test_metrics_have_baselines_with_the_models_keys_and_a_paired_test(result):
    m = json.loads((result.report_dir / "metrics.json").read_text())
    assert set(m["baselines"]) == {"majority", "linear"}
    for b in m["baselines"].values():
        assert {"clip", "tape", "confidence_matrix", "spearman_year_vs_expected_era_index",
                "tape_accuracy_exact_interval", "per_fold"} <= set(b)
    assert m["tape"]["accuracy"] > m["baselines"]["majority"]["tape"]["accuracy"]
    assert len(m["per_fold"]) == 3 and "fold_spread" in m
    assert 0 <= m["comparison"]["cnn_vs_linear"]["mcnemar"]["p_value"] <= 1
    assert m["intervals"] is None and "too few tapes for an interval" in m["interval_note"]
    md = (result.report_dir / "report.md").read_text()
    for needle in ("CNN (`seed3s`)", "linear baseline", "majority baseline", "Exact McNemar", "## Per fold",
                   "Recording-technology control off", "too few tapes for an interval"):
        assert needle in md, needle


def test_a_compared_preset_is_trained_on_the_same_folds_and_reported_beside_the_first(result):
    m = result.metrics
    other = m["compared"]["jazzcnn-lite"]
    assert other["n_tapes"] == m["n_tapes"] and len(other["per_fold"]) == 3
    for k in range(3):  # its own run folders, the same held-out tapes
        mine = pd.read_csv(result.run_dir / f"fold-{k}" / "split.csv")
        theirs = pd.read_csv(result.run_dir / "compare-jazzcnn-lite" / f"fold-{k}" / "split.csv")
        pd.testing.assert_frame_equal(mine, theirs)
        assert json.loads((result.run_dir / "compare-jazzcnn-lite" / f"fold-{k}" / "config.json").read_text())[
            "clip_seconds"] == 3.0  # its own clip length
    assert {"cnn_vs_linear", "jazzcnn-lite_vs_linear", "cnn_vs_jazzcnn-lite"} == set(m["comparison"])
    assert other["hyperparameters"][0]["learning_rate"] == 1e-4
    md = (result.report_dir / "report.md").read_text()
    assert "| CNN (`jazzcnn-lite`) |" in md and "## CNN (seed3s) against CNN (jazzcnn-lite), on the same tapes" in md
    assert "- `seed3s`: published settings; learning rate 0.001." in md


def test_an_unknown_compared_preset_is_refused_before_training(data, tmp_path):
    from jazzcnn.train.crossval import crossval
    from jazzcnn.train.training import TrainError

    with pytest.raises(TrainError, match="setting compare: unknown preset 'seed3'"):
        crossval(_cfg(data, tmp_path, compare=["seed3"]), verbose=0)
    assert not (tmp_path / "runs" / "crossval").exists()


def test_baselines_agree_with_scikit_learn_computed_directly(result, data):
    """Fold 0's linear baseline, recomputed here from the shards with librosa and scikit-learn."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from jazzcnn.preprocess.shards import load_index, read_segment

    m = result.metrics
    split = pd.read_csv(result.run_dir / "fold-0" / "split.csv")
    index = load_index(data["shard_dir"])
    eras = m["eras"]

    def clips_of(part):
        xs, ys = [], []
        for ident, era in split.loc[split["split"] == part, ["identifier", "era"]].itertuples(index=False):
            for _, row in index[index["identifier"] == ident].iterrows():
                seg = read_segment(data["shard_dir"], row).astype(np.float32) / 32768
                for s in range(0, len(seg) - 16000 + 1, 16000):
                    xs.append(seg[s:s + 16000])
                    ys.append(eras.index(era))
        return np.stack(xs), np.array(ys)

    from jazzcnn.train.presets import PRESETS

    p = PRESETS["seed3s"]  # the model's own mel settings

    def feats(x):
        db = 20 * np.log10(np.maximum(librosa.feature.melspectrogram(
            y=x, sr=16000, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, power=1.0), 1e-5))
        return np.concatenate([db.mean(-1), db.std(-1)], axis=1)

    (xtr, ytr), (xva, yva), (xte, yte) = (clips_of(p) for p in ("train", "val", "test"))
    c = m["linear_baseline_C"]["0"] if "0" in m["linear_baseline_C"] else m["linear_baseline_C"][0]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=1234))
    clf.fit(np.concatenate([feats(xtr), feats(xva)]), np.concatenate([ytr, yva]))
    direct = clf.predict_proba(feats(xte))
    ours = pd.read_csv(result.report_dir / "baseline_tape_predictions.csv")
    ours = ours[(ours["model"] == "linear") & (ours["fold"] == 0)]
    tape_of = [t for t in split.loc[split["split"] == "test", "identifier"] for _, r in index[index["identifier"] == t].iterrows()
               for _ in range(0, int(r["length"]) - 16000 + 1, 16000)]
    direct_tape = pd.DataFrame(direct, columns=eras).assign(identifier=tape_of).groupby("identifier").mean()
    np.testing.assert_allclose(ours.set_index("identifier").loc[direct_tape.index, [f"p_{e}" for e in eras]].to_numpy(),
                               direct_tape.to_numpy(), atol=1e-4)
    maj = m["baselines"]["majority"]
    assert maj["tape"]["accuracy"] == pytest.approx(1 / 3) and np.sum(np.array(maj["clip"]["confusion"]).sum(0) > 0) <= 3


def test_a_killed_crossval_resumes_without_retraining_finished_folds(data, tmp_path, monkeypatch):
    from jazzcnn.train import crossval as cv

    real = cv.train

    def killed_in_fold_2(cfg, **kw):
        if cfg.run == "fold-2":
            raise KeyboardInterrupt
        return real(cfg, **kw)

    monkeypatch.setattr(cv, "train", killed_in_fold_2)
    cfg = _cfg(data, tmp_path, linear_baseline=False, bootstrap=0)
    with pytest.raises(KeyboardInterrupt):
        cv.crossval(cfg, verbose=0)
    done = {k: (tmp_path / "runs" / "crossval" / f"fold-{k}" / "model.keras").stat().st_mtime_ns for k in (0, 1)}
    monkeypatch.setattr(cv, "train", real)
    res = cv.crossval(cfg, verbose=0)
    assert res.trained == [2]
    assert {k: (tmp_path / "runs" / "crossval" / f"fold-{k}" / "model.keras").stat().st_mtime_ns for k in (0, 1)} == done
    assert res.metrics["n_tapes"] == 18


def test_cli_names_an_era_with_too_few_groups(data, tmp_path, capsys):
    rc = cli_main(["crossval", "--data-dir", str(data["data_dir"]), "--manifests-dir", str(data["manifests_dir"]),
                   "--runs-dir", str(tmp_path / "runs"), "--reports-dir", str(tmp_path / "rep"), "--folds", "4"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "fewer than the 4 folds" in err and "GROUP=tape" in err
    assert not (tmp_path / "runs" / "crossval" / "fold-0").exists()


def test_bandlimit_removes_a_6k_tone_and_keeps_a_1k_tone_in_numpy_and_in_the_model(tmp_path):
    import keras

    from jazzcnn.train.layers import BandLimit, with_bandlimit

    sr, n = 16000, 48000
    t = np.arange(n) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 1000 * t), 0.3 * np.sin(2 * np.pi * 6000 * t)]).astype(np.float32)

    def db(v):
        return 10 * np.log10(np.mean(np.square(v.astype(np.float64))) + 1e-30)

    y = bandlimit(x, sr, 3500, normalize_level=False)
    assert abs(db(y[0]) - db(x[0])) < 0.5 and db(y[1]) - db(x[1]) < -60
    z = keras.ops.convert_to_numpy(BandLimit(3500, sr, normalize_level=False)(x[..., None]))[..., 0]
    np.testing.assert_allclose(z, y, atol=1e-5)
    leveled = bandlimit(np.stack([x[0], 0.1 * x[0]]), sr, 3500)
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(leveled), axis=1)), 0.1, rtol=1e-4)  # one level for all
    inp = keras.Input((n, 1))
    m = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(inp)))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    wrapped = with_bandlimit(m, 3500, sr)
    wrapped.save(tmp_path / "w.keras")
    again = keras.models.load_model(tmp_path / "w.keras")  # no custom objects: the layer is registered
    np.testing.assert_allclose(again.predict(x[..., None], verbose=0), wrapped.predict(x[..., None], verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        bandlimit(x, sr, 9000)


def test_crossval_report_page_opens_from_disk(browser, result, data, tmp_path):
    from conftest import SCREENSHOTS
    from test_pages import check_report_page

    shot = (SCREENSHOTS or tmp_path) / "crossval_html.png"
    check_report_page(browser, result.report_dir, data["shard_dir"], shot)
    html = (result.report_dir / "report.html").read_text()
    assert "Per fold" in html and "linear baseline" in html and "majority baseline" in html
    assert "exact McNemar" in html and (result.report_dir / "embeddings.png").exists()
