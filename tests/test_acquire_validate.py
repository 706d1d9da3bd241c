"""``jazzcnn validate`` lists missing and corrupt files separately; download repairs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from jazzcnn.testing.archive_server import ArchiveServer
from jazzcnn.testing.archive_items import niven_like_items
from jazzcnn.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_validate_missing_vs_corrupt_then_repair(tmp_path: Path, capsys):
    (tmp_path / "manifests").mkdir()
    shutil.copy(REPO / "manifests" / "eras.csv", tmp_path / "manifests")
    common = ["--data-dir", str(tmp_path / "data"), "--manifests-dir", str(tmp_path / "manifests")]
    with ArchiveServer(niven_like_items()) as srv:
        assert main(["download", *common, "--ia-base-url", srv.base_url, "--backoff-s", "0.01"]) == 0
        assert main(["validate", *common]) == 0
        assert "6 ok, 0 missing, 0 corrupt" in capsys.readouterr().out

        audio = tmp_path / "data" / "audio"
        gone = audio / "Duke_Ellington_Tape_88_1963" / "Duke_Ellington_Tape_88_1963_side2.mp3"
        gone.unlink()
        bad = audio / "Bud_Freeman_Tape_4A_1940-1954" / "Bud_Freeman_Tape_4A_1940-1954.mp3"
        data = bytearray(bad.read_bytes())
        data[100] ^= 0xFF  # same size, different MD5
        bad.write_bytes(bytes(data))
        short = audio / "Jimmie_Lunceford_Tape_2_1943" / "Jimmie_Lunceford_Tape_2_1943.mp3"
        short.write_bytes(short.read_bytes()[:-10])

        assert main(["validate", *common]) == 1
        out = capsys.readouterr().out
        missing = out[out.index("missing (1):"):out.index("corrupt (2):")]
        corrupt = out[out.index("corrupt (2):"):]
        assert "Duke_Ellington_Tape_88_1963/Duke_Ellington_Tape_88_1963_side2.mp3: not downloaded" in missing
        assert "Bud_Freeman_Tape_4A_1940-1954/Bud_Freeman_Tape_4A_1940-1954.mp3: MD5" in corrupt
        assert "Jimmie_Lunceford_Tape_2_1943/Jimmie_Lunceford_Tape_2_1943.mp3: size" in corrupt
        verified = pd.read_csv(audio / "verified.csv", dtype=str)
        assert len(verified) == 3  # validate made the record forget the bad files

        srv.clear_log()
        assert main(["download", *common, "--ia-base-url", srv.base_url, "--scrape", "false"]) == 0
        fetched = sorted(r[1].rsplit("/", 1)[1] for r in srv.log if r[1].startswith("/download/"))
        assert fetched == sorted([gone.name, bad.name, short.name])
        assert main(["validate", *common, "--eras", "Swing/Big Band"]) == 0
        assert main(["validate", *common]) == 0
