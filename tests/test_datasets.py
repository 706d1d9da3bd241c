"""Beyond the Niven collection: FMA, GTZAN, any dated Internet Archive collection and a labelled
folder, each built tiny in its published layout, served over real HTTP by the local test server
(checksums right and wrong, transfers cut), then downloaded, preprocessed, trained, scored and
cross-validated with the same commands as the Niven collection."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from jazzcnn.cli import main
from jazzcnn.testing import datasets as fake
from jazzcnn.testing.archive_server import ArchiveServer, ServedFile, ServedItem

FAST = ["--backoff-s", "0.01", "--retries", "2", "--timeout-s", "10"]
# seed3s, the quickest CNN on a CPU: these tests check the data sets' plumbing, not a network.
TRAIN = ["--preset", "seed3s", "--clip-seconds", "1", "--epochs", "1", "--batch-size", "8", "--learning-rate", "0.001", "--seed", "3"]


@pytest.fixture(scope="module")
def fma_tracks():
    return fake.fma_tracks()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def server(fma_tracks, work):
    gtzan_dir = fake.gtzan_folder(work / "gtzan-source")
    items = [fake.fma_item(fma_tracks),
             ServedItem("gtzan-split", {"mediatype": "data"},
                        [ServedFile(n, t.encode(), "Text") for n, t in fake.gtzan_lists().items()]),
             ServedItem("gtzan-copy", {"mediatype": "data"},
                        [ServedFile("genres.tar.gz", fake.gtzan_tar(gtzan_dir), "TGZ")]),
             *fake.ia_items()]
    with ArchiveServer(items) as srv:
        srv.page_size = 4
        yield srv


def sha1(server, identifier, name) -> str:
    item = server.items[identifier]
    return hashlib.sha1(next(f.data for f in item.files if f.name == name)).hexdigest()


def dirs(root: Path) -> list[str]:
    return ["--data-dir", str(root / "data"), "--manifests-dir", str(root / "manifests")]


def tracks_of(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "manifests" / "tracks.csv", dtype=str, keep_default_na=False)


def preprocess(root: Path) -> int:
    return main(["preprocess", *dirs(root), "--workers", "1", "--min-segment-s", "1"])


# ------------------------------------------------------------------------------------------------
# acquisition, one data set at a time


@pytest.fixture(scope="module")
def fma(server, work):
    root = work / "fma"
    base = ["download", "--dataset", "fma", *dirs(root), *FAST, "--fma-base-url", f"{server.base_url}/download/fma",
            "--fma-metadata-sha1", sha1(server, "fma", "fma_metadata.zip")]
    good = ["--fma-audio-sha1", sha1(server, "fma", "fma_small.zip")]
    out = {"root": root}
    # a wrong checksum: reported, nothing placed, the archive not kept
    out["wrong"] = main(base + ["--fma-audio-sha1", "0" * 40])
    out["placed_after_wrong"] = sorted(p.name for p in (root / "data" / "audio").rglob("*.mp3"))
    out["archives_after_wrong"] = sorted(p.name for p in (root / "data" / "archives").iterdir())
    # the right one, with the transfer cut off after 5,000 bytes: resumed with a Range request
    server.faults.cut_after("/download/fma/fma_small.zip", 5000, times=2)
    server.clear_log()
    out["first"] = main(base + good + ["--limit", "9"])
    out["log"] = list(server.log)
    out["first_placed"] = sorted(p.name for p in (root / "data" / "audio").rglob("*.mp3"))
    out["all"] = main(base + good)
    out["preprocess"] = preprocess(root)
    return out


def test_fma_archives_are_verified_by_sha1_resumed_and_unpacked_safely(fma, fma_tracks):
    root = fma["root"]
    assert fma["wrong"] == 1 and fma["placed_after_wrong"] == []
    assert fma["archives_after_wrong"] == ["fma_metadata.zip"]  # the bad archive is not kept
    assert ("GET", "/download/fma/fma_small.zip", "bytes=5000-") in fma["log"]
    assert fma["first"] == 0 and len(fma["first_placed"]) == 9
    t = tracks_of(root).set_index("identifier")
    # LIMIT samples every genre evenly (3 x 3), not the first nine track ids
    first = t.loc[[n[:6] for n in fma["first_placed"]]]
    assert first["label"].value_counts().to_dict() == {"Hip-Hop": 3, "Instrumental": 3, "Rock": 3}
    assert fma["all"] == 0
    # the subset's tracks only, labels and the official split as published, paths as in the archive
    assert "000014" in t.index and "000015" not in t.index  # 15 is a medium-only track
    assert t.at["000002", "label"] == "Hip-Hop" and t.at["000002", "source_file"] == "000/000002.mp3"
    assert t.at["000014", "label"] == "" and not (root / "data" / "audio" / "000014").exists()  # no genre: not fetched
    part = {"training": "train", "validation": "val", "test": "test"}
    want = {f"{int(i):06d}": part[s] for i, s in fma_tracks[("set", "split")].items()}
    assert t["split"].to_dict() == {k: v for k, v in want.items() if k in t.index}
    # every placed file is recorded with its checksum: validate agrees
    data = (root / "data" / "audio" / "000002" / "000002.mp3").read_bytes()
    assert t.at["000002", "md5"] == hashlib.md5(data).hexdigest() and t.at["000002", "size_bytes"] == str(len(data))
    assert main(["validate", *dirs(root)]) == 0
    assert json.loads((root / "manifests" / "dataset.json").read_text())["dataset"] == "fma"
    assert (root / "manifests" / "classes.csv").read_text().split() == ["label", "Hip-Hop", "Instrumental", "Rock"]
    # the known-empty file and one shorter than stated are reported by preprocess and skipped; the rest goes on
    assert fma["preprocess"] == 1
    fail = pd.read_csv(root / "data" / "shards" / "failures.csv", dtype=str).set_index("identifier")
    assert fail["reason"].to_dict() == {"099134": "empty", "099999": "truncated"}
    assert "2.0 s of audio, tracks.csv says 30 s" in fail.at["099999", "error"]
    meta = json.loads((root / "data" / "shards" / "meta.json").read_text())
    assert meta["config"]["vad"] is False  # commentary removal is off by default for FMA


def test_fma_refuses_to_mix_into_another_data_sets_folder(fma, server, tmp_path, capsys):
    shutil.copytree(fma["root"] / "manifests", tmp_path / "manifests")
    rc = main(["download", "--dataset", "ia", "--collection", "georgeblood", *dirs(tmp_path), "--ia-base-url",
               server.base_url, "--dry-run"])
    assert rc == 2 and "holds the fma subset=small data set" in capsys.readouterr().err


@pytest.fixture(scope="module")
def gtzan(server, work):
    root = work / "gtzan"
    split = f"{server.base_url}/download/gtzan-split"
    out = {"root": root}
    out["download"] = main(["download", "--dataset", "gtzan", *dirs(root), *FAST, "--source-dir",
                            str(work / "gtzan-source"), "--gtzan-split", split])
    out["preprocess"] = preprocess(root)
    # the same data set from an archive URL (tar.gz), into other folders
    url_root = work / "gtzan-url"
    out["url"] = main(["download", "--dataset", "gtzan", *dirs(url_root), *FAST, "--source-url",
                       f"{server.base_url}/download/gtzan-copy/genres.tar.gz",
                       "--source-sha1", sha1(server, "gtzan-copy", "genres.tar.gz"), "--gtzan-split", split])
    out["url_root"] = url_root
    return out


def test_gtzan_takes_the_filtered_split_and_reports_the_corrupt_clip(gtzan):
    root = gtzan["root"]
    assert gtzan["download"] == 0
    t = tracks_of(root).set_index("identifier")
    assert len(t) == 13 and t.at["jazz.00054", "label"] == "jazz"  # 3 genres x 4 clips and the corrupt one
    lists = fake.gtzan_lists()
    for fname, part in (("train_filtered.txt", "train"), ("valid_filtered.txt", "val"), ("test_filtered.txt", "test")):
        listed = {line.split("/")[1].rsplit(".", 1)[0] for line in lists[fname].split()}
        assert set(t.index[t["split"] == part]) == listed
    assert t.at["rock.00003", "split"] == "test" and (t["split"] == "").sum() == 0
    assert gtzan["preprocess"] == 1
    fail = pd.read_csv(root / "data" / "shards" / "failures.csv", dtype=str)
    assert fail["identifier"].tolist() == ["jazz.00054"]
    # from the tar.gz at a URL: the same files, byte for byte
    assert gtzan["url"] == 0
    for ident in ("blues.00000", "rock.00003"):
        a = (root / "data" / "audio" / ident / f"{ident}.wav").read_bytes()
        assert a == (gtzan["url_root"] / "data" / "audio" / ident / f"{ident}.wav").read_bytes()


@pytest.fixture(scope="module")
def ia(server, work):
    root = work / "ia"
    (root / "manifests").mkdir(parents=True)
    (root / "manifests" / "eras.csv").write_text(fake.IA_ERAS)
    base = ["download", "--dataset", "ia", "--collection", "georgeblood", *dirs(root), *FAST, "--ia-base-url",
            server.base_url]
    out = {"root": root}
    server.clear_log()
    out["sample"] = main(base + ["--limit", "3", "--dry-run"])
    out["sample_tracks"] = tracks_of(root)
    out["sample_metadata"] = len([r for r in server.log if r[1].startswith("/metadata/")])
    out["download"] = main(base)
    out["preprocess"] = preprocess(root)
    return out


def test_ia_collection_years_come_from_date_metadata_and_limit_samples_every_era(ia, capsys):
    root = ia["root"]
    # LIMIT=3: one side of each era, and no metadata fetched beyond them
    assert ia["sample"] == 0 and ia["sample_metadata"] == 3
    eras = pd.read_csv(root / "manifests" / "eras.csv")
    years = ia["sample_tracks"].groupby("identifier")["year_start"].first().astype(int)
    got = sorted(eras.loc[(eras.start_year <= y) & (y <= eras.end_year), "era"].iloc[0] for y in years)
    assert got == ["Acoustic", "Electrical", "Postwar"]
    assert ia["download"] == 0
    t = tracks_of(root).set_index("identifier")
    assert t.at["78_acoustic-song-0_creator-0_gbia00100", "year_start"] == "1910"
    assert t.loc["78_acoustic-song-2_creator-2_gbia00102", ["year_start", "year_end"]].tolist() == ["1912", "1912"]
    assert t.at["78_electrical-song-1_creator-1_gbia00301", "artist"] == "Electrical Singer 1"
    assert t.at["78_electrical-song-1_creator-1_gbia00301", "tape"] == ""
    # missing, malformed and implausible dates: blank years (never from the title), reported
    for ident in ("78_no-date_x_gbia0090", "78_bad-date_x_gbia0091", "78_future_x_gbia0092"):
        assert t.at[ident, "year_start"] == "", ident
    assert set(t["format"]) == {"VBR MP3"} and "georgeblood_notes" not in t.index
    assert ia["preprocess"] == 0


def test_ia_download_reports_missing_and_malformed_dates(ia, server, capsys):
    assert main(["download", "--dataset", "ia", "--collection", "georgeblood", *dirs(ia["root"]), *FAST,
                 "--ia-base-url", server.base_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "78_no-date_x_gbia0090: no date or year in its metadata" in out
    assert "78_bad-date_x_gbia0091: no year in its date/year metadata ['19??']" in out
    assert "78_future_x_gbia0092: metadata year(s) [2343] outside 1850-" in out
    assert "Acoustic" in out and "unlabelled" in out and " h |" in out  # files, bytes, hours per era


@pytest.fixture(scope="module")
def folder(work):
    root = work / "folder"
    source, labels = fake.labelled_folder(work / "folder-source")
    out = {"root": root, "download": main(["download", "--dataset", "folder", *dirs(root), "--source-dir", str(source),
                                           "--labels-csv", str(labels)])}
    out["preprocess"] = preprocess(root)
    return out


def test_folder_with_a_labels_csv_skips_bad_rows_and_keeps_the_rest(folder, capsys):
    root = folder["root"]
    assert folder["download"] == 1  # done, with the bad rows listed as failures
    t = tracks_of(root)
    assert len(t) == 12 and set(t["label"]) == {"birds", "bells", "drums"}
    assert t.set_index("identifier").at["birds__birds-rec1", "artist"] == "birds recordist 1"
    assert len(list((root / "data" / "audio").rglob("*.flac"))) == 6
    assert folder["preprocess"] == 0
    rerun = main(["download", "--dataset", "folder", *dirs(root), "--source-dir", str(root.parent / "folder-source" / "audio"),
                  "--labels-csv", str(root.parent / "folder-source" / "labels.csv")])
    out = capsys.readouterr().out
    assert rerun == 1 and "12 already verified" in out
    assert "labels.csv, line 14/birds/missing.wav: file not found" in out
    assert "labels.csv, line 15/bells/bells-rec0.wav: blank label" in out
    assert "labels.csv, line 16/../outside.wav: " in out and "leaves" in out


# ------------------------------------------------------------------------------------------------
# train, score and crossval on each, with the CNN beside the majority and linear baselines

CASES = {"fma": ("fixed", "artist"), "gtzan": ("fixed", "tape"), "ia": ("grouped", "artist"),
         "folder": ("grouped", "artist")}


@pytest.mark.parametrize("name", list(CASES))
def test_train_score_and_crossval_on_each_data_set(name, request, work, capsys):
    ds = request.getfixturevalue(name)
    root = ds["root"]
    split_kind, group = CASES[name]
    runs, reports = work / "runs" / name, work / "reports" / name
    common = [*dirs(root), "--runs-dir", str(runs)]
    assert main(["train", *common, "--run", "r", "--split", split_kind, "--group", group, *TRAIN]) == 0, \
        capsys.readouterr().err
    split = pd.read_csv(runs / "r" / "split.csv", dtype=str, keep_default_na=False)
    assert split.groupby("identifier")["split"].nunique().max() == 1  # no track in two parts
    if group == "artist":
        assert split.groupby("group")["split"].nunique().max() == 1  # an artist on one side
    if split_kind == "fixed":  # the published split, exactly
        t = tracks_of(root).drop_duplicates("identifier").set_index("identifier")
        assert (split.set_index("identifier")["split"] == t.loc[split["identifier"], "split"]).all()
    assert main(["score", "--runs-dir", str(runs), "--run", "r", "--reports-dir", str(reports), "--bootstrap", "0"]) == 0
    m = json.loads((reports / "r" / "metrics.json").read_text())
    assert m["split_kind"] == split_kind and len(m["eras"]) == 3
    assert main(["crossval", *common, "--run", "cv", "--reports-dir", str(reports), "--folds", "2", "--group",
                 group, *TRAIN, "--bootstrap", "0"]) == 0, capsys.readouterr().err
    cv = json.loads((reports / "cv" / "metrics.json").read_text())
    assert set(cv["baselines"]) == {"majority", "linear"} and cv["tape"]["n"] == len(split)
    out = capsys.readouterr().out
    assert "CNN" in out and "majority baseline" in out and "linear baseline" in out


# ------------------------------------------------------------------------------------------------
# the parts on their own


def test_archive_members_never_choose_where_files_land(tmp_path):
    """A hostile zip member and a tar symlink named like a wanted clip: nothing lands outside the
    audio folder, the symlink is refused, the good member is placed."""
    import io
    import tarfile
    import zipfile

    from jazzcnn.acquire.sources import list_members, match_members, place_members
    from jazzcnn.acquire.transfer import safe_target

    audio = tmp_path / "audio"
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../evil.mp3", b"evil")
        zf.writestr("fma_small/000/000002.mp3", b"good")
    found = match_members(list_members(zpath), ["000/000002.mp3", "evil.mp3"])
    assert found["000/000002.mp3"].name == "fma_small/000/000002.mp3"
    target = safe_target(audio, "000002", "000002.mp3")
    got = list(place_members(zpath, {found["000/000002.mp3"].name: target}))
    assert got[0][1] == (4, hashlib.md5(b"good").hexdigest()) and target.read_bytes() == b"good"
    assert not (tmp_path / "evil.mp3").exists() and not list(tmp_path.parent.glob("evil.mp3"))
    tpath = tmp_path / "g.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        link = tarfile.TarInfo("genres/jazz/jazz.00001.wav")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        data = tarfile.TarInfo("genres/jazz/jazz.00002.wav")
        data.size = 3
        tf.addfile(data, io.BytesIO(b"wav"))
    assert [m.name for m in list_members(tpath)] == ["genres/jazz/jazz.00002.wav"]  # links are not files
    wanted = {"genres/jazz/jazz.00001.wav": audio / "jazz.00001" / "jazz.00001.wav",
              "genres/jazz/jazz.00002.wav": audio / "jazz.00002" / "jazz.00002.wav"}
    res = {name: (placed, why) for name, placed, why in place_members(tpath, wanted)}
    assert res["genres/jazz/jazz.00001.wav"][0] is None and "not a regular file" in res["genres/jazz/jazz.00001.wav"][1]
    assert res["genres/jazz/jazz.00002.wav"][0] is not None
    assert not (audio / "jazz.00001" / "jazz.00001.wav").exists()


def test_limit_interleaves_classes_then_groups_and_grows_by_prefix():
    from jazzcnn.acquire.manifests import interleave

    units = [("a1", "A", "x"), ("a2", "A", "x"), ("a3", "A", "y"), ("b1", "B", ""), ("b2", "B", ""), ("u1", "", "")]
    order = interleave(units, ["A", "B"])
    assert order == ["a1", "b1", "a3", "b2", "a2", "u1"]  # class, then artist round-robin; unlabelled last
    assert interleave(units[:5], ["B", "A"])[:2] == ["b1", "a1"]


def test_fixed_split_is_taken_exactly_and_checked():
    from jazzcnn.train.splits import SplitError, fixed_split

    labels = pd.DataFrame({"identifier": list("abcdefg"), "artist": ["p", "p", "q", "r", "s", "t", "u"],
                           "era": ["X", "X", "X", "Y", "Y", "Y", "Y"],
                           "fixed_split": ["train", "train", "val", "train", "val", "test", ""]})
    split = fixed_split(labels, group="artist")
    assert dict(zip(split["identifier"], split["split"])) == {"a": "train", "b": "train", "c": "val", "d": "train",
                                                              "e": "val", "f": "test"}  # g is in no part: unused
    bad = labels.assign(fixed_split=["train", "test", "val", "train", "val", "test", ""])
    with pytest.raises(SplitError, match="group in more than one split"):
        fixed_split(bad, group="artist")  # artist p on both sides
    with pytest.raises(SplitError, match="class 'Y' has no training tape"):
        fixed_split(labels.assign(fixed_split=["train", "val", "test", "val", "val", "test", ""]))


def test_crossval_refuses_the_fixed_split(tmp_path, capsys):
    assert main(["crossval", "--split", "fixed", "--runs-dir", str(tmp_path)]) == 2
    assert "--split fixed" in capsys.readouterr().err


def test_make_trains_a_genre_data_set_on_classes_csv_in_its_own_folders(tmp_path):
    import os
    import subprocess
    import time

    from conftest import REPO

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv).mkdir()
    (venv / ".installed").touch()
    old = time.time() - 1000
    for i, rel in enumerate(["data/fma-small/audio/verified.csv", "manifests/fma-small/tracks.csv",
                             "manifests/fma-small/classes.csv", "data/fma-small/shards/complete.json",
                             "runs/fma-small/r/model.keras"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
        os.utime(tmp_path / rel, (old + 10 * i, old + 10 * i))

    def plan(*args):
        r = subprocess.run(["make", "-n", "-C", str(REPO), f"VENV={venv}", "RUN=r", *args], capture_output=True,
                           text=True, cwd=tmp_path)
        return r.returncode, r.stdout + r.stderr

    rel = {f"{k}={tmp_path / v}" for k, v in (("DATA_DIR", "data/fma-small"), ("MANIFESTS", "manifests/fma-small"),
                                               ("RUNS_DIR", "runs/fma-small"))}
    rc, out = plan("train", "DATASET=fma", *rel)
    assert rc == 0 and "jazzcnn train" not in out  # no eras.csv needed, nothing new
    os.utime(tmp_path / "manifests/fma-small/classes.csv")
    rc, out = plan("train", "DATASET=fma", "SPLIT=fixed", "CLASSES=Rock,Hip-Hop", *rel)
    assert rc == 0 and "--split 'fixed'" in out and "--classes 'Rock,Hip-Hop'" in out
    rc, out = plan("download", "DATASET=fma", "CLASSES=Rock,Hip-Hop")
    assert "--data-dir 'data/fma-small' --manifests-dir 'manifests/fma-small'" in out and "--eras 'Rock,Hip-Hop'" in out
    rc, out = plan("download", "DATASET=ia", "COLLECTION=georgeblood", "LIMIT=400", "DRY_RUN=true")
    assert "--manifests-dir 'manifests/ia-georgeblood'" in out and "--dataset 'ia'" in out and "--limit '400'" in out


def test_an_ia_collection_without_eras_gets_the_shipped_ones_to_edit(server, tmp_path, capsys):
    assert main(["download", "--dataset", "ia", "--collection", "georgeblood", *dirs(tmp_path), *FAST,
                 "--ia-base-url", server.base_url, "--dry-run", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "copied the shipped jazz eras" in out and (tmp_path / "manifests" / "eras.csv").exists()
    assert json.loads((tmp_path / "manifests" / "dataset.json").read_text())["source"]["collection"] == "georgeblood"
