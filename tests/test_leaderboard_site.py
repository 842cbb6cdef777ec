"""`elpagen leaderboard --html DIR` (issue 27, item 2): the static site opened in a real
headless Chromium from file:// (no server, no network): the table's rows, a sort from the
URL hash, a model page behind a link. Built from the toy-space runs of
test_leaderboard_verify (seconds)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
from cli_helpers import one_line_error, run
from test_leaderboard_verify import _copy, toy_runs  # noqa: F401 (a fixture)

from elpagen.leaderboard import site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (.ci/run installs Debian's chromium)")

HOSTILE = "Forged <b>x</b> \x1b[31m<script>alert(1)</script>"


@pytest.fixture(scope="module")
def built(toy_runs, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """The site of two verified toy rows (marginal with its frontier, random) and an
    unverified one with a hostile label and a javascript: link."""
    import json

    d = tmp_path_factory.mktemp("site")

    def forge(doc):
        doc["generations"] = None
        doc["generator"].update(name="claims", label=HOSTILE)

    claims = _copy(toy_runs["bench"] / "submission_random_class1.json", d / "in", "claims",
                   forge)
    doc = json.loads(claims.read_text())
    doc["generator"]["code_url"] = "https://example.org/claims"
    claims.write_text(json.dumps(doc))
    out = d / "out" / "site"
    from elpagen import cli

    assert cli.main(["leaderboard", str(toy_runs["bench"]), str(toy_runs["front"]),
                     str(claims), "--space-file", str(toy_runs["space"]), "--html",
                     str(out), "-q"]) == 0
    return out


def _dom(url: str) -> str:
    """The DOM after the page's scripts ran, as headless Chromium dumps it."""
    proc = subprocess.run([CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox",
                           "--virtual-time-budget=3000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _rows(dom: str) -> list[dict[str, str]]:
    """The data attributes of the table's rows, in the DOM's order (hidden ones marked)."""
    body = dom.split('<tbody>', 1)[1].split("</tbody>", 1)[0]
    out = []
    for m in re.finditer(r"<tr ([^>]*)>", body):
        attrs = {k: html.unescape(v) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', m.group(1))}
        attrs["hidden"] = "yes" if re.search(r"\bhidden\b", m.group(1)) else "no"
        out.append(attrs)
    return out


def test_the_site_holds_every_row_a_page_per_entry_and_only_local_files(built):
    index = (built / "index.html").read_text()
    names = {p.name for p in (built / "models").iterdir()}
    assert len(names) == 3 and all(n.endswith("_toy_energy_class1_n60.html") for n in names)
    assert (built / "site.js").is_file() and (built / "site.css").is_file()
    assert len(list((built / "plots").glob("*.png"))) == 1
    # Nothing is loaded from the network: every src and stylesheet is a file of the site.
    for page in [built / "index.html", *(built / "models").iterdir()]:
        text = page.read_text()
        for ref in re.findall(r'(?:src|<link [^>]*href)="([^"]+)"', text):
            assert not re.match(r"^[a-z]+:", ref), (page, ref)
            assert (page.parent / ref).resolve().is_file(), (page, ref)
        assert "<script>" not in text and "http://" not in text
    # The hostile label is text, never markup, and loses its terminal escape.
    assert "<b>x</b>" not in index and "&lt;b&gt;x&lt;/b&gt;" in index and "\x1b" not in index
    assert "alert(1)</script>" not in index


@needs_chromium
def test_chromium_shows_the_rows_sorted_from_the_hash(built):
    url = (built / "index.html").as_uri()
    rows = _rows(_dom(url))
    assert len(rows) == 3 and all(r["hidden"] == "no" for r in rows)
    assert [r["data-order"] for r in rows] == ["1", "2", "3"]  # the board's order
    assert rows[-1]["data-verified"] == "no" and rows[-1]["data-name"].startswith("Forged")
    # The hash sorts (the script ran): coverage descending, then ascending.
    for key, direction in (("coverage", "desc"), ("coverage", "asc"), ("name", "asc"),
                           ("score", "desc")):
        got = _rows(_dom(f"{url}#sort={key}-{direction}"))
        values = [r[f"data-{key}"] for r in got]
        values = [float(v) for v in values] if key != "name" else values
        want = sorted(values, reverse=direction == "desc")
        assert values == want, (key, direction, values)
        assert {r["data-name"] for r in got} == {r["data-name"] for r in rows}
    # The two directions are two orders (the forged copy ties with random: ties keep the
    # board's order either way).
    asc = [r["data-order"] for r in _rows(_dom(f"{url}#sort=coverage-asc"))]
    desc = [r["data-order"] for r in _rows(_dom(f"{url}#sort=coverage-desc"))]
    assert asc == ["2", "3", "1"] and desc == ["1", "2", "3"]
    # A filter from the hash hides the other kinds.
    got = _rows(_dom(f"{url}#kind=baseline&sort=name-asc"))
    assert {r["data-kind"] for r in got if r["hidden"] == "no"} == {"baseline"}


@needs_chromium
def test_a_model_link_opens_its_page(built):
    dom = _dom((built / "index.html").as_uri())
    links = dict((html.unescape(t), h) for h, t in
                 re.findall(r'<a class="model" href="([^"]+)">([^<]+)</a>', dom))
    assert set(links) >= {"marginal baseline", "random screening"}, links
    page = built / links["marginal baseline"]
    assert page.is_file()
    text = _dom(page.as_uri())
    assert "<h1>marginal baseline</h1>" in text
    assert "A. Author" in text and 'href="https://doi.org/10.1/x"' in text
    assert "frontier hypervolume" in text and "<th>seed</th>" in text
    claims = next(built / h for t, h in links.items() if t.startswith("Forged"))
    text = _dom(claims.as_uri())
    assert "no (no samples)" in text and "<b>x</b>" not in text


def test_the_site_is_written_whole_and_never_over_a_user_s_directory(capsys, toy_runs,  # noqa: F811
                                                                     built, tmp_path):
    args = ["leaderboard", str(toy_runs["bench"]), "--space-file", str(toy_runs["space"]),
            "-q"]
    one_line_error(capsys, *args, "--html", str(built), match="--overwrite")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    one_line_error(capsys, *args, "--html", str(mine), "--overwrite", match="not replacing")
    assert (mine / "notes.txt").read_text() == "keep me"
    again = tmp_path / "again"
    code, _, err = run(capsys, *args, "--html", str(again))
    assert code == 0, err
    (again / "stale.html").write_text("old")
    code, _, err = run(capsys, *args, "--html", str(again), "--overwrite")
    assert code == 0, err
    assert not (again / "stale.html").exists() and (again / site.MARKER).is_file()
    assert len(list((again / "models").iterdir())) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_links_are_only_http_or_doi():
    assert site.link("javascript:alert(1)") == "javascript:alert(1)"
    assert site.link("doi:10.1103/PhysRevLett.117.135502").startswith(
        '<a href="https://doi.org/10.1103/PhysRevLett.117.135502"')
    assert site.link('https://x.org/"onmouseover=') == "https://x.org/&quot;onmouseover="
    assert site.link(None) == "–"
