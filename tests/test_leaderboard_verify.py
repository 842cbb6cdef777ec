"""Submissions scored again from their generations, and hostile submission files (issue 27,
items 1 and 12-17): on the toy space (a table space file), so every run takes seconds."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import one_line_error, run
from test_leaderboard import fake
from toy_space import TOY_SITES

from elpagen import generations, leaderboard, submission
from elpagen.leaderboard import render
from elpagen.submission import SubmissionError


def EMPTY(tmp_path: Path) -> list[str]:  # noqa: N802
    """An empty reference cache: fake submissions (reference 'aaa...') are not checked
    against this machine's elpasolite reference."""
    d = tmp_path / "empty-cache"
    d.mkdir(exist_ok=True)
    return ["--cache-dir", str(d)]


def _toy_files(d: Path) -> Path:
    """A toy table space file (210 compositions, smooth energies) and its data."""
    rng = np.random.default_rng(0)
    rows = [f"{x},{y},{z},{-2 + 0.3 * i - 0.2 * j + 0.25 * k + 0.1 * rng.normal():.4f}"
            for i, x in enumerate(TOY_SITES["X"]) for j, y in enumerate(TOY_SITES["Y"])
            for k, z in enumerate(TOY_SITES["Z"])]
    (d / "toy.csv").write_text("X,Y,Z,energy\n" + "\n".join(rows) + "\n")
    sites = "".join(f'[[sites]]\nname = "{n}"\nelements = {json.dumps(list(els))}\n\n'
                    for n, els in TOY_SITES.items())
    (d / "toy.toml").write_text(f'[space]\nname = "toy"\nnumbering = "iupac"\n\n{sites}'
                                '[data]\npath = "toy.csv"\ncolumns = { energy = "energy" }\n\n'
                                '[reference]\nkind = "table"\n')
    return d / "toy.toml"


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory) -> dict[str, Path]:
    """A benchmark (marginal, random) and a frontier (marginal) on the toy space, -o."""
    from elpagen import cli

    d = tmp_path_factory.mktemp("toy")
    space = _toy_files(d)
    meta = d / "meta.toml"
    meta.write_text('authors = ["A. Author"]\npaper_url = "https://doi.org/10.1/x"\n'
                    'licence = "MIT"\n[random]\ncode_url = "https://example.org/random"\n')
    common = ["--space", str(space), "-c", "1", "-n", "60", "--seeds", "2", "-q",
              "--cache-dir", str(d / "cache")]
    assert cli.main(["benchmark", *common, "--models", "marginal,random", "-j", "1",
                     "--meta", str(meta), "-o", str(d / "bench")]) == 0
    assert cli.main(["frontier", *common, "--models", "marginal", "-o", str(d / "front")]) == 0
    return {"space": space, "bench": d / "bench", "front": d / "front", "dir": d}


def _board(capsys, runs, *paths, extra=()):
    code, out, err = run(capsys, "leaderboard", *map(str, paths), "--space-file",
                         str(runs["space"]), "--json", *extra)
    assert code == 0, err
    return json.loads(out), err


def _copy(src: Path, d: Path, name: str, edit=None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    doc = json.loads(src.read_text())
    if edit:
        edit(doc)
    out = d / f"submission_{name}_class1.json"
    out.write_text(json.dumps(doc))
    return out


# --------------------------------------------------------------------------- item 1


def test_generations_round_trip_compactly():
    rng = np.random.default_rng(1)
    codes = rng.choice(39**4, 10_000)  # the elpasolite's grid, every sample distinct
    g = generations.encode(3, codes, 11_000)
    d = generations.decode(g)
    assert (d.samples() == np.sort(codes)).all() and g["n_valid"] == 10_000
    assert len(g["data"]) < 20_000  # five seeds stay under 100 kB
    bad = {**g, "sha256": "0" * 64}
    with pytest.raises(generations.GenerationsError, match="sha256"):
        generations.decode(bad)
    with pytest.raises(generations.GenerationsError, match="n_distinct"):
        generations.decode({**g, "n_distinct": g["n_distinct"] + 1})


def test_honest_submissions_verify_and_carry_their_metadata(capsys, toy_runs):
    doc, _ = _board(capsys, toy_runs, toy_runs["bench"], toy_runs["front"])
    [group] = doc["groups"]
    assert (group["space"], group["target"]) == ("toy", "energy")
    rows = {r["name"]: r for r in group["entries"]}
    assert set(rows) == {"marginal", "random"}  # benchmark and frontier: one row each
    assert all(r["verified"] for r in rows.values())
    assert rows["marginal"]["hypervolume"] is not None and len(rows["marginal"]["files"]) == 2
    assert rows["random"]["code_url"] == "https://example.org/random"
    assert rows["marginal"]["authors"] == ["A. Author"] and rows["marginal"]["licence"] == "MIT"
    sub = submission.read(toy_runs["bench"] / "submission_marginal_class1.json")
    assert sub.task.space == "toy" and sub.generations is not None
    assert sub.generator.paper_url == "https://doi.org/10.1/x"
    # Without the space file the samples cannot be scored: unverified, said why.
    code, md, _ = run(capsys, "leaderboard", str(toy_runs["bench"]))
    assert code == 0 and "no (space 'toy' unknown here" in md


def test_an_edited_summary_is_refused(capsys, toy_runs, tmp_path):
    src = toy_runs["bench"] / "submission_marginal_class1.json"

    def summary(doc):
        doc["summary"]["precision"]["mean"] = 0.99

    bad = _copy(src, tmp_path / "a", "marginal", summary)
    one_line_error(capsys, "leaderboard", str(bad), "--space-file", str(toy_runs["space"]),
                   match=(str(bad), "$.summary.precision.mean", "not the mean"))

    def consistent(doc):  # per seed and summary forged alike: only the samples tell
        for r in doc["per_seed"]:
            r["precision"] = round(r["precision"] - 5 / r["n_valid"], 6)
        vals = [r["precision"] for r in doc["per_seed"]]
        doc["summary"]["precision"] = {"mean": float(np.mean(vals)),
                                       "std": float(np.std(vals, ddof=1))}

    bad = _copy(src, tmp_path / "b", "marginal", consistent)
    one_line_error(capsys, "leaderboard", str(bad), "--space-file", str(toy_runs["space"]),
                   match=(str(bad), "$.per_seed[0].precision", "its generations give"))


def test_unverified_ranks_below_every_verified_entry(capsys, toy_runs, tmp_path):
    def strip_and_boost(doc):
        doc["generations"] = None
        doc["generator"]["name"] = "claims"
        doc["generations"] = None

    src = toy_runs["bench"] / "submission_random_class1.json"
    claims = _copy(src, tmp_path / "c", "claims", strip_and_boost)
    doc, err = _board(capsys, toy_runs, toy_runs["bench"], claims)
    rows = doc["groups"][0]["entries"]
    assert [r["verified"] for r in rows] == [True, True, False]
    assert rows[-1]["name"] == "claims" and rows[-1]["verification"] == "no (no samples)"


def test_the_same_submission_under_two_names_ranks_once(capsys, toy_runs, tmp_path):
    src = toy_runs["bench"] / "submission_random_class1.json"
    twin = _copy(src, tmp_path / "t", "twin", lambda d: d["generator"].update(name="twin"))
    doc, err = _board(capsys, toy_runs, toy_runs["bench"], twin)
    names = [r["name"] for r in doc["groups"][0]["entries"]]
    assert sorted(names) == ["marginal", "random"]
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "same submission" in warnings[0] and str(twin) in warnings[0]


def test_a_set_override_and_spaces_are_kept_apart(capsys, toy_runs, tmp_path):
    src = toy_runs["bench"] / "submission_random_class1.json"
    d = tmp_path / "s"
    write = _copy(src, d, "random")
    elpa = d / "submission_vae_class1.json"
    elpa.write_text(fake("vae", 0.5, 0.5).to_json())
    code, md, err = run(capsys, "leaderboard", str(write), str(elpa), "--space-file",
                        str(toy_runs["space"]), *EMPTY(tmp_path))
    assert code == 0, err
    assert "### elpasolite: class 1" in md and "### toy: class 1" in md
    sub = fake("vae", 0.5, 0.5)
    doc = json.loads(sub.to_json())
    doc["task"]["overrides"] = {"steps": 500}
    elpa.write_text(json.dumps(doc))
    code, md, err = run(capsys, "leaderboard", str(elpa), *EMPTY(tmp_path))
    assert " | fast, --set steps=500 | " in md  # the override is visible in its row


# --------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["summary"]["coverage"].update(mean=1.5), "$.summary.coverage.mean"),
    (lambda d: d["per_seed"][0].update(n_unique=-3), "$.per_seed[0].n_unique"),
    (lambda d: d["per_seed"][0].update(n_valid=d["per_seed"][0]["n_samples"] + 1),
     "n_valid"),
    (lambda d: d["per_seed"][0].update(coverage=0.905), "$.per_seed[0].coverage"),
    (lambda d: d["summary"]["n_unique"].update(std=123.0), "$.summary.n_unique.std"),
])
def test_forged_numbers_are_refused_when_the_file_loads(capsys, tmp_path, edit, match):
    doc = json.loads(fake("forged", 0.5, 0.05).to_json())
    edit(doc)
    bad = tmp_path / "submission_forged_class1.json"
    bad.write_text(json.dumps(doc))
    one_line_error(capsys, "leaderboard", str(bad), match=(str(bad), match))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused(capsys, tmp_path, literal):
    text = fake("forged", 0.5, 0.5).to_json().replace('"mean": 0.5', f'"mean": {literal}', 1)
    bad = tmp_path / "submission_forged_class1.json"
    bad.write_text(text)
    one_line_error(capsys, "leaderboard", str(bad), match=(str(bad), "not strict JSON"))


def test_paper_url_is_accepted_and_a_javascript_link_is_not():
    doc = json.loads(fake("mine", 0.5, 0.5).to_json())
    doc["generator"]["paper_url"] = "doi:10.1103/PhysRevLett.117.135502"
    assert submission.validate(doc) == []
    doc["generator"]["code_url"] = "javascript:alert(1)"
    assert any(p.startswith("$.generator.code_url") for p in submission.validate(doc))


# --------------------------------------------------------------------------- items 13-16


def test_control_characters_html_and_links_are_escaped(capsys, tmp_path):
    d = tmp_path / "subs"
    d.mkdir()
    evil = fake("evil", 0.5, 0.5, label="\x1b[31mred\x1b[0m [x](javascript:alert(1))",
                description="<script>alert(1)</script> \u202eevil\x07", version="1 | 2")
    (d / "submission_evil_class1.json").write_text(evil.to_json())
    code, md, err = run(capsys, "leaderboard", str(d), *EMPTY(tmp_path))
    assert code == 0, err
    for bad in ("\x1b", "\x07", "\u202e", "<script>", "[x]"):
        assert bad not in md, bad
    assert not re.search(r"(?<!\\)\]\(javascript:", md)  # shown, never a link
    assert "&lt;script&gt;" in md and "\\[x\\]" in md and "1 \\| 2" in md
    page = leaderboard.to_html(leaderboard.build(leaderboard.load([d])))
    assert "\x1b" not in page and "<script>" not in page


def test_deep_nesting_is_one_line(capsys, tmp_path):
    bad = tmp_path / "submission_deep_class1.json"
    bad.write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(capsys, "leaderboard", str(bad), match=(str(bad), "nested more than"))
    bad.write_text('{"a": ' * 40 + "1" + "}" * 40)
    one_line_error(capsys, "leaderboard", str(bad), match=(str(bad), "nested more than"))


def test_only_regular_files_of_bounded_size_are_read(capsys, tmp_path):
    d = tmp_path / "subs"
    d.mkdir()
    fifo = d / "submission_fifo_class1.json"
    os.mkfifo(fifo)
    one_line_error(capsys, "leaderboard", str(d), match=(str(fifo), "not a regular file"))
    fifo.unlink()
    link = d / "submission_zero_class1.json"
    link.symlink_to("/dev/zero")
    one_line_error(capsys, "leaderboard", str(link), match="not a regular file")
    link.unlink()
    huge = d / "submission_huge_class1.json"
    with open(huge, "wb") as f:
        f.truncate(submission.MAX_BYTES + 1)  # sparse: no disk used
    one_line_error(capsys, "leaderboard", str(huge), match=(str(huge), "larger than"))


def test_output_checked_first_and_written_whole(capsys, tmp_path, monkeypatch):
    d = tmp_path / "subs"
    d.mkdir()
    (d / "submission_a_class1.json").write_text(fake("a", 0.5, 0.5).to_json())
    (d / "submission_b_class1.json").write_text("{broken")
    out = tmp_path / "board"
    empty = EMPTY(tmp_path)
    one_line_error(capsys, "leaderboard", str(d), "-o", str(out), *empty, match="not JSON")
    assert not out.exists()  # the inputs are checked before the directory is made
    (d / "submission_b_class1.json").unlink()
    one_line_error(capsys, "leaderboard", str(d), "-o", "/proc/elpagen-x", *empty,
                   match="/proc/elpagen-x")
    assert run(capsys, "leaderboard", str(d), "-o", str(out), *empty)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (d / "submission_c_class1.json").write_text(fake("c", 0.6, 0.6).to_json())

    def interrupted(_doc):
        raise KeyboardInterrupt

    monkeypatch.setattr(leaderboard, "to_html", interrupted)
    code, _, _ = run(capsys, "leaderboard", str(d), "-o", str(out), "--overwrite", *empty)
    assert code != 0  # interrupted while drawing
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half new


def test_the_plot_legend_is_capped():
    subs = [(Path(f"s{i}.json"), fake(f"m{i}", 0.2 + i / 2000, 0.3)) for i in range(60)]
    doc = leaderboard.build(subs)
    fig = render.plot_figure(doc["groups"][0])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) <= render.PLOT_LABELLED + 1 + len(doc["groups"][0]["published"])
    assert "40 more entries" in labels


def test_the_leaderboard_never_downloads_the_dft_file(capsys, tmp_path, monkeypatch):
    """A default-space submission with samples, no DFT file here: unverified, no fetch."""
    from elpagen import fetch

    monkeypatch.delenv("ELPAGEN_DATA")
    monkeypatch.setattr(fetch, "fetch_published", pytest.fail)
    sub = fake("vae", 0.5, 0.5)
    doc = json.loads(sub.to_json())
    g = generations.encode(0, np.arange(10_000), 10_000)
    doc["generations"] = {"encoding": generations.ENCODING, "knob": None,
                          "per_seed": [{**g, "seed": s} for s in (0, 1)]}
    for r in doc["per_seed"]:
        r["n_unique"] = 10_000
        r["n_novel"] = 9_000
    doc["summary"]["n_unique"]["mean"] = 10_000.0
    f = tmp_path / "submission_vae_class1.json"
    f.write_text(json.dumps(doc))
    code, md, err = run(capsys, "leaderboard", str(f))
    assert code == 0, err
    assert "no (no data file of space 'elpasolite' here" in md
    with pytest.raises(SubmissionError):
        submission.read(tmp_path)  # a directory is no submission file


def test_a_bad_meta_file_is_refused_before_any_work(capsys, tmp_path):
    meta = tmp_path / "meta.toml"
    meta.write_text('code_url = "javascript:alert(1)"\n')
    one_line_error(capsys, "benchmark", "--models", "random", "-n", "100", "--seeds", "1",
                   "--meta", str(meta), "-o", str(tmp_path / "out"),
                   match=("--meta", "$.generator.code_url"))
    meta.write_text('homepage = "https://x.org"\n')
    one_line_error(capsys, "benchmark", "--models", "random", "-n", "100", "--seeds", "1",
                   "--meta", str(meta), match="unknown field 'homepage'")
    assert not (tmp_path / "out").exists()


def test_the_issue_s_edited_copy_of_a_real_submission_is_refused(capsys, tmp_path):
    """Issue 27: a copy of a real submission with summary.precision.mean edited to 0.99
    (its seeds say 0.76) ranked first; it is refused, naming the file and the number."""
    real = Path(__file__).resolve().parents[1] / "docs" / "leaderboard"
    bad = _copy(real / "submission_vae_class1.json", tmp_path, "vae",
                lambda d: d["summary"]["precision"].update(mean=0.99))
    one_line_error(capsys, "leaderboard", str(bad), str(real / "submission_gan_class1.json"),
                   match=(str(bad), "$.summary.precision.mean: 0.99 is not the mean"))
