"""`elpagen data fetch` against bad input (issue 27, bad input round four, items 1-6): huge
or special local files, data directories that cannot be made, slow, lying or hostile
servers, and a data file the user edited. Also: a present file is not fetched again.

Servers are loopback HTTP servers started here; deadlines are made short so that every
test takes a second or two.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import closed_port_url, one_line_error, run

from elpagen import data, fetch


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path) -> None:
    """A fresh data dir, no network: the default URL is a closed loopback port."""
    monkeypatch.setenv(fetch.DATA_DIR_ENV, str(tmp_path / "datadir"))
    monkeypatch.setenv(fetch.URL_ENV, closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server():
    """``server(handle)`` serves GET requests with ``handle(handler)`` on 127.0.0.1 and
    returns the URL of /train_set.pkl."""
    started = []

    def start(handle: Callable[[http.server.BaseHTTPRequestHandler], None]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def log_message(self, *args) -> None:
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return f"http://127.0.0.1:{srv.server_port}/train_set.pkl"

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _stored() -> list[str]:
    d = fetch.data_dir()
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# ------------------------------------------------------------------ a file already there


def test_a_present_file_is_not_fetched_again(capsys, pkl_path, data_path):
    """Offline (the default URL is a closed port), a present published file is enough."""
    code, _, err = run(capsys, "data", "fetch", "--from-file", str(pkl_path))
    assert code == 0, err
    stored = fetch.fetched_path()
    before = stored.stat().st_mtime_ns
    code, out, err = run(capsys, "data", "fetch")
    assert (code, err) == (0, "") and "already present, sha256 ok" in out
    code, out, _ = run(capsys, "data", "fetch", "--json")
    assert code == 0 and json.loads(out)["already_present"] is True
    assert stored.stat().st_mtime_ns == before
    # --force fetches again: from the (closed) default URL it fails, and the file stays.
    one_line_error(capsys, "data", "fetch", "--force", match="cannot download")
    assert stored.read_bytes() == data_path.read_bytes()


def test_an_edited_data_file_is_not_replaced_without_force(capsys, pkl_path, data_path):
    assert run(capsys, "data", "fetch", "--from-file", str(pkl_path))[0] == 0
    stored = fetch.fetched_path()
    edited = stored.read_bytes().replace(b"0.", b"1.", 1)
    stored.write_bytes(edited)
    for extra in ([], ["--from-file", str(pkl_path)]):
        one_line_error(capsys, "data", "fetch", *extra, match=("not the published file",
                                                               "--force"))
        assert stored.read_bytes() == edited
    code, _, err = run(capsys, "data", "fetch", "--force", "--from-file", str(pkl_path))
    assert code == 0, err
    assert stored.read_bytes() == data_path.read_bytes()


def test_the_perovskite_file_too(capsys, tmp_path, monkeypatch):
    """The published table of another space: the same rules (already there, edited)."""
    from elpagen import truth

    pub = truth.resolve("perovskite").published
    dest = fetch.data_dir() / pub.file_name
    dest.parent.mkdir(parents=True)
    dest.write_bytes(Path(os.environ["ELPAGEN_PEROVSKITE_DATA"]).read_bytes())
    code, out, _ = run(capsys, "data", "fetch", "--space", "perovskite")
    assert code == 0 and "already present, sha256 ok" in out
    dest.write_bytes(dest.read_bytes() + b"\n")
    one_line_error(capsys, "data", "fetch", "--space", "perovskite",
                   match="not the published file")


# ------------------------------------------------------------------ local files (1, 5)


def test_a_huge_local_file_is_refused_before_it_is_read(capsys, tmp_path):
    huge = tmp_path / "train_set.pkl"
    with open(huge, "wb") as f:  # sparse: 9 GB that take no disk
        f.truncate(9 * 10**9)
    t0 = time.perf_counter()
    one_line_error(capsys, "data", "fetch", "--from-file", str(huge),
                   match=("9,000,000,000 bytes", "254,417"))
    assert time.perf_counter() - t0 < 5
    one_line_error(capsys, "data", "fetch", "--space", "perovskite", "--from-file", str(huge),
                   match="9,000,000,000 bytes")


def test_special_files_are_not_regular_files(capsys, tmp_path):
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    for path in (tmp_path, fifo, Path("/dev/zero")):
        for space in ([], ["--space", "perovskite"]):
            one_line_error(capsys, "data", "fetch", *space, "--from-file", str(path),
                           match=(str(path), "not a regular file"))
    assert _stored() == []


# ------------------------------------------------------------------ data directories (2)


@pytest.mark.parametrize("kind", ["under a file", "csv is a directory", "proc"])
def test_a_data_directory_that_cannot_hold_the_file(capsys, tmp_path, monkeypatch, pkl_path,
                                                    kind, server):
    if kind == "under a file":
        (tmp_path / "afile").write_text("x")
        where, match = tmp_path / "afile" / "x", "afile is a file, not a directory"
    elif kind == "csv is a directory":
        where, match = tmp_path / "dd", "is a directory"
        (where / fetch.FILE_NAME).mkdir(parents=True)
        (where / "wolverton_oxides.csv").mkdir()
    else:
        where, match = Path("/proc/elpagen-test"), "cannot make the data directory"
    monkeypatch.setenv(fetch.DATA_DIR_ENV, str(where))
    one_line_error(capsys, "data", "fetch", "--from-file", str(pkl_path), match=match)
    # A plain command that fetches on its own: the same one line, before any download.
    asked = []
    url = server(lambda h: (asked.append(1), h.send_error(404)))
    monkeypatch.setenv(fetch.URL_ENV, url)
    monkeypatch.delenv(data.ENV_VAR)
    one_line_error(capsys, "data", match=("no DFT data file given", match))
    monkeypatch.delenv("ELPAGEN_PEROVSKITE_DATA", raising=False)
    one_line_error(capsys, "data", "--space", "perovskite", match=match)
    assert asked == []


# ------------------------------------------------------------------ servers (3, 4, 5)


def test_a_server_that_trickles_meets_an_overall_deadline(capsys, server, monkeypatch):
    def trickle(h) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(fetch.SOURCE_SIZE))
        h.end_headers()
        for _ in range(100):  # one byte every 0.2 s: each read is well within its timeout
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    monkeypatch.setattr(fetch, "DEADLINE_S", 1.0)
    t0 = time.perf_counter()
    one_line_error(capsys, "data", "fetch", "--url", server(trickle),
                   match=("took longer than 1 s", "retry"))
    assert time.perf_counter() - t0 < 3
    assert _stored() == []


def test_what_a_server_says_is_printed_without_control_characters(capsys, server):
    def hostile(h) -> None:
        h.send_response(503, "Busy \x1b[2J\x1b]0;pwned\x07 now\r")
        h.send_header("Content-Length", "0")
        h.end_headers()

    line = one_line_error(capsys, "data", "fetch", "--url", server(hostile), match="HTTP 503")
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2J" in line


def test_a_body_cut_short_says_so(capsys, server, pkl_path):
    body = pkl_path.read_bytes()

    def short(h) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:1000])  # then the connection closes

    one_line_error(capsys, "data", "fetch", "--url", server(short),
                   match=("download cut short", "retry"))
    assert _stored() == []


def test_an_empty_url_is_refused(capsys):
    for space in ([], ["--space", "perovskite"]):
        one_line_error(capsys, "data", "fetch", *space, "--url", "", match="--url is empty")
    with pytest.raises(fetch.FetchError, match="URL is empty"):
        fetch.download(" ")
    assert _stored() == []
