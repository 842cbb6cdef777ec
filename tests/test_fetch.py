"""`elpagen data fetch` and the data file's resolution order (docs/design.md, "Data fetch").

Downloads come from a loopback HTTP server started here (127.0.0.1, port 0); no test
reaches the internet: every test sets the data directory to a temp dir and the default
source URL to a closed loopback port. The real train_set.pkl and CSV are read from the
shared data directory, never copied into the repository.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import closed_port_url, one_line_error, run

from elpagen import data, fetch


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path) -> None:
    """A fresh data dir, no GitHub: the default URL is a closed loopback port."""
    monkeypatch.setenv(fetch.DATA_DIR_ENV, str(tmp_path / "datadir"))
    monkeypatch.setenv(fetch.URL_ENV, closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def serve():
    """Serve bytes over HTTP on 127.0.0.1; ``serve(name, body)`` returns the URL."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def add(name: str, body: bytes) -> str:
        files["/" + name] = body
        return f"http://127.0.0.1:{server.server_port}/{name}"

    yield add
    server.shutdown()
    server.server_close()
    thread.join()


def _stored() -> list[str]:
    """Everything in the data dir (temp files included): empty after a refused fetch."""
    d = fetch.data_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_the_real_pkl_converts_to_the_published_csv(pkl_path, data_path):
    ans, fes = fetch.read_source(pkl_path.read_bytes())
    assert ans.shape == (10_590, 4) and fes.shape == (10_590,)
    assert fetch.to_csv(ans, fes, data.HEADER) == data_path.read_bytes()
    got = data.fetch_data(from_file=pkl_path)
    assert got.path == fetch.fetched_path() and got.rows == 10_590
    assert got.sha256 == data.EXPECTED_SHA256 == data.sha256_of(got.path)
    assert got.path.read_bytes() == data_path.read_bytes()
    assert _stored() == [fetch.FILE_NAME]


def test_atomic_numbers_match_the_elements():
    assert fetch.ATOMIC_NUMBERS[:3] == (1, 2, 3)
    z = dict(zip(("K", "Ga", "Rb", "In", "Cs", "Tl", "Bi"), (19, 31, 37, 49, 55, 81, 83),
                 strict=True))
    for sym, n in z.items():
        assert fetch.ATOMIC_NUMBERS[fetch.SPACE.sites[0].elements.index(sym)] == n


def test_download_from_loopback(capsys, serve, pkl_path, data_path, monkeypatch):
    url = serve("train_set.pkl", pkl_path.read_bytes())
    code, out, err = run(capsys, "data", "fetch", "--url", url, "--json")
    assert code == 0, err
    r = json.loads(out)
    assert Path(r["path"]) == fetch.fetched_path()
    assert r["sha256"] == data.EXPECTED_SHA256 and r["source"] == url
    assert r["source_sha256"] == fetch.SOURCE_SHA256 and r["rows"] == 10_590
    assert 0 <= r["seconds_convert"] <= r["seconds"]
    assert fetch.fetched_path().read_bytes() == data_path.read_bytes()
    # Every command now finds it without --data.
    monkeypatch.delenv(data.ENV_VAR)
    code, out, err = run(capsys, "data", "--json")
    assert code == 0 and err == ""
    assert Path(json.loads(out)["path"]) == fetch.fetched_path()
    # The text output names the file and the source.
    code, out, _ = run(capsys, "data", "fetch", "--url", url)
    assert code == 0 and str(fetch.fetched_path()) in out and fetch.DOI in out


def test_first_use_fetches_with_a_one_line_notice(capsys, serve, pkl_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv(fetch.URL_ENV, serve("mirror/train_set.pkl", pkl_path.read_bytes()))
    code, out, err = run(capsys, "data", "--json")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("notice: ") and "fetched" in lines[0]
    assert json.loads(out)["sha256"] == data.EXPECTED_SHA256
    assert _stored() == [fetch.FILE_NAME]
    code, out, err = run(capsys, "data", "--json")  # the second time: no notice
    assert code == 0 and err == ""


def test_a_wrong_checksum_is_refused_and_nothing_is_cached(capsys, serve, pkl_path):
    url = serve("train_set.pkl", pkl_path.read_bytes() + b"\0")
    one_line_error(capsys, "data", "fetch", "--url", url, match=("sha256", url, "nothing"))
    assert _stored() == []


def test_a_csv_that_is_not_the_published_one_is_refused(capsys, pkl_path, tmp_path,
                                                        monkeypatch):
    """A well-formed source whose CSV differs (one energy changed) passes the source check
    (its own checksum patched in) and fails the CSV's: nothing is stored."""
    ans, fes = fetch.read_source(pkl_path.read_bytes())
    fes = fes.copy()
    fes[0] += 1.0
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"ANs": ans, "FEs": fes}, protocol=4))
    monkeypatch.setattr(fetch, "SOURCE_SHA256", hashlib.sha256(other.read_bytes()).hexdigest())
    one_line_error(capsys, "data", "fetch", "--from-file", str(other),
                   match=("CSV", "not that of the published file", "nothing was stored"))
    assert _stored() == []


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(capsys, tmp_path, monkeypatch, serve):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"ANs": _Evil(marker), "FEs": np.zeros(1)}, protocol=2)
    path = tmp_path / "train_set.pkl"
    path.write_bytes(evil)
    # The source checksum stops it first (only the published bytes are ever unpickled).
    one_line_error(capsys, "data", "fetch", "--from-file", str(path), match="sha256")
    # With its checksum accepted, the unpickler itself refuses it, and nothing runs.
    monkeypatch.setattr(fetch, "SOURCE_SHA256", hashlib.sha256(evil).hexdigest())
    line = one_line_error(capsys, "data", "fetch", "--from-file", str(path),
                          match=("refused to unpickle", "system"))
    assert "nothing was run" in line
    one_line_error(capsys, "data", "fetch", "--url", serve("train_set.pkl", evil),
                   match="refused to unpickle")
    assert not marker.exists()
    assert _stored() == []
    for module, name in (("builtins", "eval"), ("numpy", "load"), ("os", "system")):
        blob = pickle.dumps(0, protocol=2)[:2] + f"c{module}\n{name}\n.".encode()
        with pytest.raises(fetch.FetchError, match=f"refused to unpickle {module}.{name}"):
            fetch.read_source(blob)


def test_offline_gives_one_line_naming_the_url_and_the_ways_out(capsys, monkeypatch, serve):
    url = os.environ[fetch.URL_ENV]  # a closed loopback port
    missing = serve("other", b"").replace("other", "missing.pkl")  # the server answers 404
    one_line_error(capsys, "data", "fetch", "--url", missing, match=("HTTP 404", missing))
    one_line_error(capsys, "data", "fetch", match=(url, "elpagen data fetch --url MIRROR",
                                                   "--data PATH"))
    closed = closed_port_url()
    one_line_error(capsys, "data", "fetch", "--url", closed, match=(closed, "--data PATH"))
    # First use, offline: the same one line, and nothing is stored.
    monkeypatch.delenv(data.ENV_VAR)
    one_line_error(capsys, "data", match=("no DFT data file given", url,
                                          "elpagen data fetch --url MIRROR", "--data PATH"))
    with pytest.raises(data.DataError, match="ELPAGEN_DATA"):
        data.resolve_path()
    assert _stored() == []


def test_resolution_order(pkl_path, data_path, tmp_path, monkeypatch):
    fetched = data.fetch_data(from_file=pkl_path).path
    mine = tmp_path / "mine.csv"
    mine.write_bytes(b"")  # resolve_path only finds files; loading checks them
    # $ELPAGEN_DATA beats the fetched file; --data beats both.
    assert data.resolve_path() == data_path
    assert data.resolve_path(mine) == mine
    monkeypatch.delenv(data.ENV_VAR)
    assert data.resolve_path() == fetched
    assert data.resolve_path(mine) == mine
    monkeypatch.setenv(data.ENV_VAR, "")  # an empty variable counts as unset
    assert data.resolve_path() == fetched
    # A given file that is missing is an error, never a silent fall-back.
    with pytest.raises(data.DataError, match="not found"):
        data.resolve_path(tmp_path / "missing.csv")


def test_cli_options_go_together(capsys, pkl_path, tmp_path):
    one_line_error(capsys, "data", "--url", "http://127.0.0.1:1/x", match="data fetch")
    one_line_error(capsys, "data", "fetch", "--data", str(tmp_path / "x.csv"),
                   match="--data")
    one_line_error(capsys, "data", "fetch", "--from-file", str(tmp_path / "no.pkl"),
                   match="not found")
    assert _stored() == []


def test_the_default_data_dir_is_the_user_data_dir(monkeypatch, platformdirs_isolated):
    import platformdirs

    monkeypatch.delenv(fetch.DATA_DIR_ENV)
    assert fetch.data_dir() == Path(platformdirs.user_data_dir("elpagen"))
    assert fetch.fetched_path().name == "elpasolite_dft_faber2016.csv"
    monkeypatch.delenv(fetch.URL_ENV)
    assert fetch.source_url() == fetch.SOURCE_URL
    assert fetch.SOURCE_COMMIT in fetch.SOURCE_URL and fetch.SOURCE_URL.endswith(".pkl")
