"""``jazzcnn download`` end to end: the real internetarchive client over real HTTP against
:class:`jazzcnn.testing.archive_server.ArchiveServer` on 127.0.0.1, with faults injected."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jazzcnn.testing.archive_server import ArchiveServer, ServedFile, ServedItem
from jazzcnn.testing.archive_items import encode, niven_like_items, tape_item, tone
from jazzcnn.cli import main

REPO = Path(__file__).resolve().parents[1]
MP3S = [
    ("Benny_Goodman_Tape_5_1933-1934", "Benny_Goodman_Tape_5_1933-1934.mp3"),
    ("Benny_Goodman_Tape_8_June_6,_1935", "Benny_Goodman_Tape_8_June_6,_1935.mp3"),
    ("Bud_Freeman_Tape_4A_1940-1954", "Bud_Freeman_Tape_4A_1940-1954.mp3"),
    ("Duke_Ellington_Tape_88_1963", "Duke_Ellington_Tape_88_1963_side1.mp3"),
    ("Duke_Ellington_Tape_88_1963", "Duke_Ellington_Tape_88_1963_side2.mp3"),
    ("Jimmie_Lunceford_Tape_2_1943", "Jimmie_Lunceford_Tape_2_1943.mp3"),
]


def dl_path(identifier: str, name: str) -> str:
    return ArchiveServer.download_path(identifier, name)


@pytest.fixture(scope="module")
def items() -> list[ServedItem]:
    return niven_like_items()


@pytest.fixture
def server(items):
    with ArchiveServer(list(items)) as srv:
        srv.page_size = 2  # several scrape pages: exercises the library's cursor loop
        yield srv


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "manifests").mkdir()
    shutil.copy(REPO / "manifests" / "eras.csv", tmp_path / "manifests" / "eras.csv")
    return tmp_path


def args(server: ArchiveServer | None, work: Path, *extra: str) -> list[str]:
    a = ["download", "--data-dir", str(work / "data"), "--manifests-dir", str(work / "manifests"),
         "--backoff-s", "0.01", "--timeout-s", "5", "--retries", "3"]
    if server is not None:
        a += ["--ia-base-url", server.base_url]
    return a + list(extra)


def download(server, work, *extra) -> int:
    return main(args(server, work, *extra))


def downloads(server: ArchiveServer) -> list[tuple[str, str, str | None]]:
    return [r for r in server.log if r[1].startswith(("/download/", "/items/"))]


def served(items, identifier, name) -> bytes:
    item = next(i for i in items if i.identifier == identifier)
    return next(f.data for f in item.files if f.name == name)


def tracks(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / "manifests" / "tracks.csv", dtype=str, keep_default_na=False)


def test_download_all_then_rerun_is_a_no_op(server, work, items, capsys):
    assert download(server, work) == 0
    out = capsys.readouterr().out
    assert "skipped davidwnivenjazz_catalogue: not an audio item" in out
    assert "2343" in out and "Jimmie_Lunceford_Tape_2_1943" in out  # implausible year reported
    assert "Swing/Big Band" in out and "unlabelled" in out            # preflight per era
    assert len([r for r in server.log if r[1] == "/services/search/v1/scrape"]) >= 3
    for ident, name in MP3S:
        data = (work / "data" / "audio" / ident / name).read_bytes()
        assert data == served(items, ident, name)
    assert not list((work / "data").rglob("*.part"))
    t = tracks(work).set_index("identifier")
    assert len(tracks(work)) == len(MP3S) and set(tracks(work)["format"]) == {"VBR MP3"}
    assert t.loc["Jimmie_Lunceford_Tape_2_1943", ["year_start", "year_source"]].tolist() == ["1943", "title"]
    assert t.loc["Benny_Goodman_Tape_5_1933-1934", ["year_start", "year_end", "duration_s", "artist", "tape"]].tolist() \
        == ["1933", "1934", "205", "Benny Goodman", "5"]
    assert t.loc["Benny_Goodman_Tape_8_June_6,_1935", "duration_s"] == "3723"
    assert t.loc["Bud_Freeman_Tape_4A_1940-1954", ["year_start", "year_end", "tape"]].tolist() == ["1940", "1954", "4A"]
    verified = pd.read_csv(work / "data" / "audio" / "verified.csv", dtype=str)
    assert len(verified) == len(MP3S)

    # A second run downloads nothing and leaves verified.csv untouched (make depends on its mtime).
    mtime = (work / "data" / "audio" / "verified.csv").stat().st_mtime_ns
    server.clear_log()
    assert download(server, work) == 0
    assert downloads(server) == []
    assert (work / "data" / "audio" / "verified.csv").stat().st_mtime_ns == mtime
    assert "6 already verified" in capsys.readouterr().out

    # A lost or garbled record costs a local MD5 pass, not a download.
    (work / "data" / "audio" / "verified.csv").write_text("garbage\x00,\n\"unterminated")
    assert download(server, work) == 0
    assert downloads(server) == []
    assert len(pd.read_csv(work / "data" / "audio" / "verified.csv")) == len(MP3S)


def test_retries_503_and_honours_retry_after_on_429(server, work):
    p503 = dl_path(*MP3S[0])
    p429 = dl_path(*MP3S[1])
    server.faults.fail_next(p503, status=503)
    server.faults.fail_next(p429, status=429, retry_after=1)
    server.faults.fail_next("/services/search/v1/scrape", status=503)
    server.faults.fail_next("/metadata/" + MP3S[2][0], status=502, retry_after=1)
    assert download(server, work, "--workers", "2") == 0
    assert [r[0] for r in server.requests_for(p503)] == ["GET", "GET"]
    idx = [i for i, r in enumerate(server.log) if r[1] == p429]
    assert len(idx) == 2
    waited = server.log_times[idx[1]] - server.log_times[idx[0]]
    assert waited >= 0.9, f"Retry-After: 1 not honoured (retried after {waited:.2f} s)"
    assert (work / "data" / "audio" / MP3S[1][0] / MP3S[1][1]).exists()
    meta = [i for i, r in enumerate(server.log) if r[1] == "/metadata/" + MP3S[2][0]]
    assert server.log_times[meta[1]] - server.log_times[meta[0]] >= 0.9  # Retry-After on a 502 too


def test_download_help_shows_settings(capsys, monkeypatch):
    monkeypatch.setenv("IA_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(SystemExit) as e:
        main(["download", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--max-examples" in out and "IA_BASE_URL" in out


def test_connection_cut_midway_resumes_with_range(server, work, items):
    ident, name = MP3S[2]
    path = dl_path(ident, name)
    server.faults.cut_after(path, 1000)
    assert download(server, work) == 0
    assert server.requests_for(path) == [("GET", path, None), ("GET", path, "bytes=1000-")]
    assert (work / "data" / "audio" / ident / name).read_bytes() == served(items, ident, name)


def test_read_timeout_midway_resumes_with_range(server, work, items):
    ident, name = MP3S[0]
    path = dl_path(ident, name)
    # Timeout and stall far apart, so a slow CI machine cannot time out a healthy request.
    server.faults.stall_after(path, 800, seconds=3.0)
    assert download(server, work, "--timeout-s", "1.0") == 0
    assert server.requests_for(path) == [("GET", path, None), ("GET", path, "bytes=800-")]
    assert (work / "data" / "audio" / ident / name).read_bytes() == served(items, ident, name)


def test_timeouts_before_headers_are_retried(server, work):
    path = dl_path(*MP3S[4])
    server.faults.delay_next(path, 3.0)
    server.faults.delay_next("/metadata/" + MP3S[4][0], 3.0)
    assert download(server, work, "--timeout-s", "1.0") == 0
    assert server.requests_for(path) == [("GET", path, None)] * 2
    assert len(server.requests_for("/metadata/" + MP3S[4][0])) == 2


def test_persistent_http_errors_fail_with_reason(server, work, capsys):
    server.faults.fail_next(dl_path(*MP3S[0]), status=404)
    server.faults.fail_next(dl_path(*MP3S[1]), status=503, times=10)
    server.faults.fail_next("/metadata/" + MP3S[5][0], status=500, times=10)
    assert download(server, work, "--retries", "2") == 1
    out = capsys.readouterr().out
    failures = out[out.index("failures (3):"):]
    assert f"{MP3S[5][0]}/*: metadata not fetched" in failures
    assert f"{MP3S[0][0]}/{MP3S[0][1]}: HTTP 404" in failures
    assert f"{MP3S[1][0]}/{MP3S[1][1]}: HTTP 503" in failures
    assert len(server.requests_for(dl_path(*MP3S[0]))) == 1  # a 404 is not retried
    assert len(server.requests_for(dl_path(*MP3S[1]))) == 3  # first try + 2 retries


def _extra_item(identifier: str, files: list[ServedFile]) -> ServedItem:
    return ServedItem(identifier, {"collection": "davidwnivenjazz", "mediatype": "audio",
                                   "title": identifier.replace("_", " ")}, files)


def test_wrong_md5_is_rejected_reported_and_not_kept(server, work, capsys):
    data = encode(tone(0.3), "MP3")
    server.add_item(_extra_item("Aaa_Broken_Tape_1_1936", [
        ServedFile("broken.mp3", data, "VBR MP3", "derivative", "broken.wav", {"md5": "0" * 32})]))
    assert download(server, work) == 1
    out = capsys.readouterr().out
    assert "Aaa_Broken_Tape_1_1936/broken.mp3: MD5 mismatch" in out[out.index("failures (1):"):]
    folder = work / "data" / "audio" / "Aaa_Broken_Tape_1_1936"
    assert not folder.exists() or not any(folder.iterdir())  # neither the file nor its .part kept
    verified = pd.read_csv(work / "data" / "audio" / "verified.csv", dtype=str)
    assert "broken.mp3" not in set(verified["file"]) and len(verified) == len(MP3S)


def test_hostile_file_names_are_refused(server, work, capsys):
    data = encode(tone(0.3), "MP3")
    server.add_item(_extra_item("Aaa_Hostile_Tape_1_1936", [
        ServedFile("../evil.mp3", data, "VBR MP3"),
        ServedFile("/etc/x", data, "VBR MP3"),
        ServedFile("ok.mp3", data, "VBR MP3"),
    ]))
    assert download(server, work) == 1
    out = capsys.readouterr().out
    failures = out[out.index("failures (2):"):]
    assert "Aaa_Hostile_Tape_1_1936/../evil.mp3: refused" in failures
    assert "Aaa_Hostile_Tape_1_1936//etc/x: refused" in failures
    assert not any("evil" in r[1] or r[1].endswith("/etc/x") for r in downloads(server))
    assert not (work / "data" / "audio" / "evil.mp3").exists()
    assert (work / "data" / "audio" / "Aaa_Hostile_Tape_1_1936" / "ok.mp3").exists()
    assert "../evil.mp3" not in set(tracks(work)["file"])  # later stages never see the name

    # A hostile name typed into tracks.csv by hand is refused by the download stage too.
    t = tracks(work)
    t.loc[t["file"] == "ok.mp3", "file"] = "../../x.mp3"
    t.to_csv(work / "manifests" / "tracks.csv", index=False)
    capsys.readouterr()
    assert download(server, work, "--scrape", "false") == 1
    assert "Aaa_Hostile_Tape_1_1936/../../x.mp3: refused" in capsys.readouterr().out


def test_rerun_after_kill_downloads_nothing_twice(server, work, items):
    stalled = MP3S[2]
    server.faults.stall_after(dl_path(*stalled), 1500, seconds=5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "jazzcnn", *args(server, work, "--workers", "1")],
                             cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = work / "data" / "audio" / stalled[0] / (stalled[1] + ".part")
    deadline = time.monotonic() + 30
    try:
        while not (part.exists() and part.stat().st_size == 1500):
            assert child.poll() is None and time.monotonic() < deadline, "child never reached the stalled file"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    done_before = [f for f in MP3S[:2] if (work / "data" / "audio" / f[0] / f[1]).exists()]
    assert len(done_before) == 2
    server.clear_log()
    server.faults.clear()
    assert download(server, work) == 0
    got = downloads(server)
    assert not any(r[1] in {dl_path(*f) for f in done_before} for r in got)  # nothing fetched twice
    assert [r for r in got if r[1] == dl_path(*stalled)] == [("GET", dl_path(*stalled), "bytes=1500-")]
    assert len(got) == len(MP3S) - 2
    assert (work / "data" / "audio" / stalled[0] / stalled[1]).read_bytes() == served(items, *stalled)
    assert not list((work / "data" / "audio").rglob("*.part"))


def test_leftovers_of_a_killed_write_are_removed(server, work):
    """A SIGKILL inside an atomic write leaves ``.<name>.<random>.tmp``; the next run clears it."""
    audio, manifests = work / "data" / "audio", work / "manifests"
    audio.mkdir(parents=True)
    stale = [audio / ".verified.csv.k1ll3d.tmp", manifests / ".tracks.csv.k1ll3d.tmp"]
    for p in stale:
        p.write_text("identifier,fi")  # half a header, as a killed writer leaves it
    keep = audio / ".notes.tmp"  # not ours: left alone
    keep.write_text("x")
    assert download(server, work, "--max-examples", "1") == 0
    assert not any(p.exists() for p in stale) and keep.exists()
    assert (audio / "verified.csv").read_text().startswith("identifier,file,")


def test_second_run_on_the_same_folder_is_refused(server, work, capsys):
    from jazzcnn.core.files import lock_folder

    lock = lock_folder(work / "data" / "audio", "download")
    try:
        assert download(server, work) == 2
        assert f"{work / 'data' / 'audio'} is in use by another download run" in capsys.readouterr().err
        assert not server.log  # refused before any request
    finally:
        lock.close()
    assert download(server, work, "--dry-run") == 0  # released: the next run goes ahead


def test_user_edits_survive_a_rerun_and_steer_eras(server, work, capsys):
    assert download(server, work, "--dry-run") == 0
    path = work / "manifests" / "tracks.csv"
    t = tracks(work)
    bud = t["identifier"] == MP3S[2][0]
    benny8 = t["identifier"] == MP3S[1][0]
    t.loc[bud, "era"] = "Bop"
    t.loc[benny8, ["year_start", "year_end"]] = ["1936", "1937"]
    t.to_csv(path, index=False)
    capsys.readouterr()
    server.add_item(tape_item("Zz_New_Tape_1_1950", {"title": "Zz New Tape 1 1950"}))
    assert download(server, work, "--dry-run") == 0
    t2 = tracks(work)
    assert t2.loc[t2["identifier"] == MP3S[2][0], "era"].tolist() == ["Bop"]
    assert t2.loc[t2["identifier"] == MP3S[1][0], ["year_start", "year_end", "year_source"]].values.tolist() \
        == [["1936", "1937", "user"]]
    assert t2["identifier"].tolist()[-1] == "Zz_New_Tape_1_1950"  # new items appended
    capsys.readouterr()
    assert download(server, work, "--dry-run", "--eras", "Bop", "--scrape", "false") == 0
    out = capsys.readouterr().out
    assert "Bop" in out and "total                    1 files" in out


def test_dry_run_downloads_nothing_and_uses_ia_base_url(server, work, monkeypatch, capsys):
    monkeypatch.setenv("IA_BASE_URL", server.base_url)
    assert download(None, work, "--dry-run", "--eras", "Swing/Big Band") == 0
    out = capsys.readouterr().out
    assert server.base_url in out and "dry run: nothing downloaded" in out
    assert "Swing/Big Band" in out and "total                    3 files" in out
    assert downloads(server) == [] and not (work / "data" / "audio").exists()
    assert len(tracks(work)) == 3


def test_limit_max_examples_unknown_era_and_disk_space(server, work, capsys):
    assert download(server, work, "--limit", "2", "--dry-run") == 0
    assert sorted(set(tracks(work)["identifier"])) == [MP3S[0][0], MP3S[1][0]]
    assert len([r for r in server.log if r[1].startswith("/metadata/")]) == 2  # no metadata beyond the limit
    assert download(server, work, "--eras", "Hard Bop") == 2
    assert "Hard Bop" in capsys.readouterr().err
    assert main(args(None, work, "--ia-base-url", "ftp://127.0.0.1")) == 2
    assert "not an http(s)://host[:port] URL" in capsys.readouterr().err
    assert download(server, work, "--free-space-margin-bytes", str(10**18)) == 3
    assert "not enough disk space" in capsys.readouterr().err and downloads(server) == []
    assert download(server, work, "--max-examples", "1") == 0
    assert len(downloads(server)) == 1


def test_follows_archive_style_redirects(server, work, items):
    server.redirect_downloads = True
    ident, name = MP3S[3]
    server.faults.cut_after(f"/items/{ident}/{name}", 700)
    assert download(server, work) == 0
    assert ("GET", f"/items/{ident}/{name}", "bytes=700-") in server.log
    assert hashlib.md5((work / "data" / "audio" / ident / name).read_bytes()).hexdigest() == \
        hashlib.md5(served(items, ident, name)).hexdigest()


def test_download_file_part_edge_cases(server, items, tmp_path):
    from jazzcnn.acquire.archive import make_session
    from jazzcnn.acquire.transfer import TransferError, download_file

    ident, name = MP3S[0]
    data = served(items, ident, name)
    md5 = hashlib.md5(data).hexdigest()
    url = server.base_url + dl_path(ident, name)
    session = make_session(server.base_url, retries=1, backoff_s=0.01)
    target = tmp_path / name
    part = tmp_path / (name + ".part")

    part.write_bytes(data)  # complete .part left by a run killed before its rename: 416, verified as is
    assert download_file(session, url, target, len(data), md5) == (0, 0)
    assert target.read_bytes() == data and not part.exists()

    target.unlink()
    part.write_bytes(b"x" * 100)  # stale prefix: MD5 fails after the resume, one clean restart fixes it
    got, resumed = download_file(session, url, target, len(data), md5)
    assert (got, resumed) == (len(data) - 100 + len(data), 1) and target.read_bytes() == data
    assert server.log[-2][2] == "bytes=100-" and server.log[-1][2] is None

    target.unlink()
    server.honour_range = False  # a mirror ignoring Range: the .part is rewritten from the start
    part.write_bytes(data[:500])
    got, resumed = download_file(session, url, target, len(data), md5)
    assert (got, resumed) == (len(data), 0) and target.read_bytes() == data
    server.honour_range = True

    target.unlink()
    with pytest.raises(TransferError, match="size mismatch"):
        download_file(session, url, target, len(data) + 1, md5)
    assert not part.exists() and not target.exists()


def test_file_without_md5_is_checked_by_size_and_not_fetched_again(work, capsys):
    data = encode(tone(2.0), "MP3")
    item = ServedItem("Zz_No_Md5_Tape_1_1938", {"collection": "davidwnivenjazz", "mediatype": "audio",
                                                 "title": "No Md5 Tape 1 1938"},
                      [ServedFile("nomd5.mp3", data, "VBR MP3", "derivative", extra={"md5": None})])
    with ArchiveServer([item]) as srv:
        assert download(srv, work) == 0
        assert "nomd5.mp3: the metadata has no MD5; verified by size only" in capsys.readouterr().out
        verified = pd.read_csv(work / "data" / "audio" / "verified.csv", dtype=str, keep_default_na=False)
        assert verified[["file", "size_bytes", "md5"]].values.tolist() == [["nomd5.mp3", str(len(data)), ""]]
        srv.clear_log()
        assert download(srv, work) == 0
        assert downloads(srv) == []  # recorded, so not fetched again
        # A run killed after the rename but before the record was saved finds the file by its size.
        (work / "data" / "audio" / "verified.csv").unlink()
        assert download(srv, work) == 0 and downloads(srv) == []
        # A file of the wrong size is fetched again.
        (work / "data" / "audio" / item.identifier / "nomd5.mp3").write_bytes(data[:-10])
        assert download(srv, work) == 0
        assert len(downloads(srv)) == 1
        assert (work / "data" / "audio" / item.identifier / "nomd5.mp3").read_bytes() == data


def test_ctrl_c_stops_a_hung_transfer_at_once_and_keeps_its_part(server, work, items):
    hung = MP3S[0]
    server.faults.stall_after(dl_path(*hung), 1500, seconds=60)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "jazzcnn", *args(server, work, "--workers", "2"), "--timeout-s", "60"]
    child = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    part = work / "data" / "audio" / hung[0] / (hung[1] + ".part")
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size == 1500):
        assert child.poll() is None and time.monotonic() < deadline, "child never reached the hung file"
        time.sleep(0.05)
    time.sleep(0.3)  # the other worker finishes its files; this one is blocked reading the socket
    t0 = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    took = time.monotonic() - t0
    assert child.returncode == 130 and "interrupted" in err, err
    assert took < 3.0, f"Ctrl-C took {took:.1f} s to stop a hung transfer"
    assert part.stat().st_size == 1500  # kept for the next run to resume
    server.faults.clear()
    assert download(server, work) == 0
    assert (work / "data" / "audio" / hung[0] / hung[1]).read_bytes() == served(items, *hung)


def test_long_retry_after_is_capped_and_announced(server, work, capsys):
    target = MP3S[0]
    server.faults.fail_next(dl_path(*target), 503, times=1, retry_after=3600)
    t0 = time.monotonic()
    assert download(server, work, "--max-examples", "1", "--max-retry-after-s", "0.5") == 0
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err
    assert "asked to wait 3600 s before a retry (Retry-After); waiting 0.5 s instead" in err, err
