"""The archive server answers what the internetarchive library asks, in archive.org's shapes."""

from __future__ import annotations

import requests

from jazzcnn.acquire.archive import make_session, search_collection
from jazzcnn.testing.archive_server import ArchiveServer, ServedFile, ServedItem


def _items():
    return [
        ServedItem(f"item{i:02d}", {"collection": ["c1", "other"] if i % 2 else "c1", "mediatype": "audio",
                                    "title": f"Item {i}", "date": ["1950", "1951"]},
                   [ServedFile(f"f{i}.mp3", bytes(range(256)) * 4, "VBR MP3", "derivative", f"f{i}.wav",
                               {"length": "0:04"})])
        for i in range(7)
    ] + [ServedItem("elsewhere", {"collection": "c2"}, [])]


def test_scrape_paging_and_metadata_through_the_library():
    with ArchiveServer(_items()) as srv:
        srv.page_size = 3
        session = make_session(srv.base_url, retries=1, backoff_s=0.01)
        docs = search_collection(session, "c1")
        assert [d["identifier"] for d in docs] == [f"item{i:02d}" for i in range(7)]
        assert docs[0]["date"] == ["1950", "1951"] and docs[1]["title"] == "Item 1"
        assert len([r for r in srv.log if r[1] == "/services/search/v1/scrape"]) == 3  # cursor pages
        assert session.search_items("collection:c1").num_found == 7

        item = session.get_item("item03")
        f = item.files[0]
        assert (f["size"], f["length"], f["original"]) == ("1024", "0:04", "f3.wav")  # strings, like archive.org
        assert item.metadata["collection"] == ["c1", "other"]
        assert session.get_item("nope").item_metadata == {}


def test_range_requests_and_faults():
    with ArchiveServer(_items()) as srv:
        url = f"{srv.base_url}/download/item01/f1.mp3"
        data = bytes(range(256)) * 4
        r = requests.get(url, headers={"Range": "bytes=1000-"})
        assert (r.status_code, r.content, r.headers["Content-Range"]) == (206, data[1000:], "bytes 1000-1023/1024")
        assert requests.get(url, headers={"Range": "bytes=-4"}).content == data[-4:]
        assert requests.get(url, headers={"Range": "bytes=5000-"}).status_code == 416
        srv.faults.fail_next("/download/item01/f1.mp3", status=429, retry_after=7)
        r = requests.get(url)
        assert (r.status_code, r.headers["Retry-After"]) == (429, "7")
        assert requests.get(url).content == data
        assert requests.head(url).headers["Content-Length"] == "1024"
        assert srv.requests_for("/download/item01/f1.mp3", "GET")[0] == ("GET", "/download/item01/f1.mp3", "bytes=1000-")
        assert requests.get(f"{srv.base_url}/download/item01/missing.mp3").status_code == 404


def test_session_is_aimed_at_the_base_url_and_keeps_keys_off_other_hosts(monkeypatch):
    monkeypatch.setenv("IA_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("IA_SECRET_ACCESS_KEY", "s")
    local = make_session("http://127.0.0.1:8765")
    assert (local.protocol, local.host, local.access_key) == ("http:", "127.0.0.1:8765", None)
    assert make_session("https://evilarchive.org").access_key is None
    assert make_session("https://archive.org").access_key == "k"
    monkeypatch.setenv("IA_BASE_URL", "http://127.0.0.1:9")
    assert make_session().host == "127.0.0.1:9"
