"""``jazzcnn serve``: drop a file on the local page, see the probabilities ``jazzcnn predict`` gives."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
import requests
import soundfile as sf

from conftest import SCREENSHOTS, PageCheck
from jazzcnn.cli import main as cli_main
from jazzcnn.commands import run_train
from jazzcnn.testing.shards import DEFAULT_ERAS, tiny_train_config, write_synthetic


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    data = write_synthetic(root, tapes_per_era=4, segments_per_tape=2, segment_seconds=3.0)
    assert run_train(tiny_train_config(data, root / "runs", "s", epochs=3, learning_rate=3e-4)) == 0
    return root / "runs" / "s"


@pytest.fixture(scope="module")
def server(run_dir):
    import uvicorn

    from jazzcnn.serve import make_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(run_dir, max_upload_bytes=2_000_000), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _tape(path, hz, seconds=7.0, silence_s=2.0):
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    x = np.concatenate([np.zeros(int(silence_s * sr)), 0.5 * np.sin(2 * np.pi * hz * t)]).astype(np.float32)
    sf.write(path, x, sr)
    return path


def test_upload_answers_what_predict_answers_and_a_bad_file_does_not_stop_the_server(server, run_dir, tmp_path):
    from jazzcnn.train.predict import predict_file

    tape = _tape(tmp_path / "bop.wav", DEFAULT_ERAS[2][3])
    expected = predict_file(tape, run_dir)
    r = requests.post(f"{server}/api/predict", files={"audio": ("bop.wav", tape.read_bytes())}, timeout=60)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["eras"] == expected.eras
    np.testing.assert_allclose(got["probabilities"], expected.probabilities, atol=1e-6)
    assert len(got["clips"]) == len(expected.clips)
    assert any(x["reason"] == "silence" for x in got["removed"])  # the leading silence is marked
    bad = requests.post(f"{server}/api/predict", files={"audio": ("broken.mp3", b"not audio at all" * 100)}, timeout=60)
    assert bad.status_code == 400 and "broken.mp3" in bad.json()["error"] and "corrupt" in bad.json()["error"]
    big = requests.post(f"{server}/api/predict", files={"audio": ("big.wav", bytes(3_000_000))}, timeout=60)
    assert big.status_code == 413 and "accepted" in big.json()["error"]
    again = requests.post(f"{server}/api/predict", files={"audio": ("bop.wav", tape.read_bytes())}, timeout=60)
    assert again.status_code == 200 and again.json()["probabilities"] == got["probabilities"]


def test_the_page_in_a_browser(browser, server, tmp_path):
    tape = _tape(tmp_path / "early.wav", DEFAULT_ERAS[0][3])
    page = PageCheck(browser, server + "/")
    try:
        (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
        page.page.set_input_files("#file", str(tmp_path / "broken.wav"))
        page.page.wait_for_selector("#error", state="visible", timeout=30_000)
        assert "broken.wav" in page.page.inner_text("#error")
        page.page.set_input_files("#file", str(tape))
        page.page.wait_for_selector("#timeline", timeout=60_000)
        assert page.page.locator("#error").is_hidden()
        first = page.page.inner_text("#whole tr:nth-child(2) td:first-child")
        assert first == "Early"
        if SCREENSHOTS:
            page.page.screenshot(path=str(SCREENSHOTS / "serve.png"), full_page=True)
        # the failed upload shows as a 400 in the console; nothing else may fail
        assert [e for e in page.errors if "400" not in e] == [], page.errors
    finally:
        page.close()


def test_non_loopback_host_is_refused_without_allow_remote(run_dir, capsys):
    rc = cli_main(["serve", "--runs-dir", str(run_dir.parent), "--run", run_dir.name, "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert rc == 2 and "not a loopback address" in err and "--allow-remote" in err
