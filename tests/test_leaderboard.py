"""Submission files (`benchmark -o`, `frontier -o`) and `elpagen leaderboard`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cli_helpers import one_line_error, run

from elpagen import leaderboard, submission
from elpagen.submission import (
    GeneratorInfo,
    MeanStd,
    ReferenceInfo,
    SeedMetrics,
    Submission,
    SubmissionError,
    Summary,
    Task,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
REF_A, REF_B = "a" * 64, "b" * 64


def fake(name: str, precision: float, coverage: float, *, ref: str = REF_A,
         samples: int = 10_000, label: str = "", version: str = "1.0",
         description: str = "a test generator") -> Submission:
    """A valid submission without running anything (two seeds, the same numbers; a class
    of 100 compositions, so that the counts agree with the fractions)."""
    unique = min(900, samples)
    near = round(min(0.1, 1 - precision), 4)
    seeds = [SeedMetrics(s, precision, near, coverage, 0.05, 0.2, samples, samples, unique,
                         unique - 100) for s in (0, 1)]
    ms = lambda v: MeanStd(v, 0.0)  # noqa: E731
    return Submission(
        submission.FORMAT, submission.FORMAT_VERSION,
        GeneratorInfo(name, version, description, "generator", label or name),
        Task(1, samples, "fast", "fast", 1, [0, 1], {"steps": 10, "hidden": [8, 8]}, {}),
        seeds, Summary(ms(precision), ms(coverage), ms(0.2), ms(near), ms(0.05),
                       ms(float(unique))),
        None, ref, "c" * 64, ReferenceInfo(9.0, 0.01, 0.076, 100, 0.92),
        {"processor": "test CPU", "cpus": "2"}, "0.1.0", "2026-01-01T00:00:00+00:00",
        "a test", 1.5)


def write(sub: Submission, d: Path, stem: str | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return submission.write(sub, d / f"submission_{stem or sub.generator.name}_class1.json")


@pytest.fixture
def no_cache(tmp_path) -> list[str]:
    """Options that point the leaderboard at an empty cache: no local reference check."""
    d = tmp_path / "empty-cache"
    d.mkdir()
    return ["--cache-dir", str(d)]


# --------------------------------------------------------------------------- the format


def test_benchmark_writes_valid_submissions(capsys, tmp_path, reference, train):
    out = tmp_path / "run"
    code, _, err = run(capsys, "benchmark", "--models", "marginal,random", "-n", "300",
                       "--seeds", "2", "-j", "1", "-q", "-o", str(out))
    assert code == 0, err
    full = json.loads((out / "benchmark_class1.json").read_text())
    for name in ("marginal", "random"):
        sub = submission.read(out / f"submission_{name}_class1.json")
        assert sub.generator.name == name and sub.generator.kind == "baseline"
        assert sub.generator.version and sub.generator.description
        assert (sub.task.target_class, sub.task.samples, sub.task.seeds) == (1, 300, [0, 1])
        assert sub.reference_sha256 == reference.fingerprint()
        assert sub.data_sha256 == train.sha256
        assert sub.environment["elpagen"] == sub.elpagen_version
        for mine, theirs in zip(sub.per_seed, full["models"][name]["per_seed"], strict=True):
            for k in (*submission.HEADLINE, *submission.COUNTS, "seed"):
                assert getattr(mine, k) == theirs[k]
        assert sub.summary.coverage.mean == full["models"][name]["coverage"]["mean"]
        assert Submission.from_json(sub.to_json()) == sub
    # A submission file is not replaced without --overwrite (checked before any work).
    (out / "benchmark_class1.json").unlink()
    one_line_error(capsys, "benchmark", "--models", "marginal", "-n", "300", "-o", str(out),
                   match=("submission_marginal_class1.json", "already exists"))
    # The leaderboard of that directory scores the samples again: both verified.
    code, md, err = run(capsys, "leaderboard", str(out))
    assert code == 0, err
    assert "every entry with samples scored again against this machine's" in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| 1 ") or ln.startswith("| 2 ")]
    assert len(rows) == 2 and all(" | yes | " in r for r in rows)
    assert md.index("marginal baseline") < md.index("random screening")
    assert "note:" not in err


def test_round_trip_and_converters():
    result = json.loads((RESULTS / "benchmark_class1_fast_5seeds.json").read_text())
    for name in result["models"]:
        sub = submission.from_benchmark_result(result, name, reference_sha256=REF_A,
                                               data_sha256=REF_B, source="converted")
        assert Submission.from_json(sub.to_json()) == sub
        assert [r.seed for r in sub.per_seed] == result["seed_values"]
    fr = json.loads((RESULTS / "frontier_class1_fast_3seeds.json").read_text())
    oracle = {"sigma": 9.0, "lambda": 0.01, "holdout_mae": 0.0759}
    for name, r in fr["models"].items():
        sub = submission.from_frontier_result(fr, name, reference_sha256=REF_A,
                                              data_sha256=REF_B, oracle=oracle)
        assert Submission.from_json(sub.to_json()) == sub
        assert sub.per_seed == [] and sub.summary.precision_neighbor is None
        assert sub.frontier.hypervolume.mean == r["hypervolume"]["mean"]
        assert len(sub.frontier.points) == len(r["points"])
    assert Submission.from_json(fake("mine", 0.5, 0.5).to_json()) == fake("mine", 0.5, 0.5)


def test_the_schema_in_docs_is_the_generated_one():
    """docs/submission.schema.json is written from the dataclasses (regenerate with
    `python -c "from elpagen import submission, io; print(io.dumps(submission.json_schema()))"`)."""
    written = json.loads((ROOT / "docs" / "submission.schema.json").read_text())
    assert written == submission.json_schema()


def test_the_schema_lists_every_problem_with_its_path():
    doc = json.loads(fake("mine", 0.5, 0.5).to_json())
    doc["per_seed"][1]["precision"] = 1.5
    doc["generator"]["name"] = "<script>"
    del doc["task"]["seeds"]
    doc["reference_sha256"] = "xyz"
    doc["surprise"] = 1
    problems = submission.validate(doc)
    assert "$.per_seed[1].precision: must be <= 1, got 1.5" in problems
    assert any(p.startswith("$.generator.name:") for p in problems)
    assert "$.task: missing 'seeds'" in problems
    assert any(p.startswith("$.reference_sha256:") for p in problems)
    assert "$: unknown field 'surprise'" in problems
    with pytest.raises(SubmissionError, match=r"^f\.json: not a valid submission: .*more"):
        Submission.from_json(json.dumps(doc), source="f.json")
    doc = json.loads(fake("mine", 0.5, 0.5).to_json())
    doc["per_seed"] = doc["per_seed"][:1]
    assert submission.validate(doc) == ["$.per_seed: seeds [0] differ from $.task.seeds [0, 1]"]


# --------------------------------------------------------------------------- the command


def test_a_broken_file_is_refused_in_one_line(capsys, tmp_path, no_cache):
    good = write(fake("good", 0.5, 0.5), tmp_path / "subs")
    bad = tmp_path / "subs" / "submission_bad_class1.json"
    doc = json.loads(good.read_text())
    doc["summary"]["precision"]["mean"] = "high"
    bad.write_text(json.dumps(doc))
    one_line_error(capsys, "leaderboard", str(tmp_path / "subs"), *no_cache,
                   match=(str(bad), "$.summary.precision.mean: expected number"))
    bad.write_text("{not json")
    one_line_error(capsys, "leaderboard", str(good), str(bad), *no_cache,
                   match=(str(bad), "not JSON"))
    one_line_error(capsys, "leaderboard", str(tmp_path / "nowhere"), match="no such file")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, "leaderboard", str(tmp_path / "empty"), match="no submission_")


def test_other_reference_energies_are_refused(capsys, tmp_path, no_cache, reference):
    a = write(fake("one", 0.5, 0.5, ref=REF_A), tmp_path / "a")
    b = write(fake("two", 0.5, 0.5, ref=REF_B), tmp_path / "b")
    one_line_error(capsys, "leaderboard", str(a), str(b), *no_cache,
                   match=(str(a), str(b), "different reference energies"))
    # This machine's reference energies are cached (the fixture): a file scored by others
    # is refused; with an empty cache only a note is printed.
    one_line_error(capsys, "leaderboard", str(a), match=(str(a), "this machine's"))
    code, _, err = run(capsys, "leaderboard", str(a), *no_cache)
    assert code == 0 and err.startswith("note: reference energies not checked"), err
    assert len(err.splitlines()) == 1


def test_ranking_and_published_points(capsys, tmp_path, no_cache):
    d = tmp_path / "subs"
    write(fake("precise", 0.95, 0.10), d)       # score 0.095: precision alone does not win
    write(fake("balanced", 0.60, 0.50), d)      # 0.300
    write(fake("twin", 0.50, 0.60), d)          # 0.300, less precise: after balanced
    write(fake("small", 0.99, 0.99, samples=500), d)  # another budget: its own table
    code, md, err = run(capsys, "leaderboard", str(d), *no_cache, "--json")
    assert code == 0, err
    doc = json.loads(md)
    assert doc["format"] == leaderboard.FORMAT and doc["reference_sha256"] == REF_A
    [g500, g10k] = doc["groups"]
    assert (g500["samples"], g10k["samples"]) == (500, 10_000)
    assert [r["name"] for r in g10k["entries"]] == ["balanced", "twin", "precise"]
    assert [r["rank"] for r in g10k["entries"]] == [1, 2, 3]
    assert g10k["entries"][0]["score"] == pytest.approx(0.3)
    published = {p["name"]: (p["precision"], p["coverage"]) for p in g10k["published"]}
    assert published["vae"] == (0.83, 0.54) and g500["published"] == []
    code, md, _ = run(capsys, "leaderboard", str(d), *no_cache, "--class", "1")
    assert code == 0
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    names = [ln.split(" | ")[1] for ln in rows if not ln.startswith("| # ")]
    assert names[names.index("balanced"):][:3] == ["balanced", "twin", "precise"]
    assert any("(published, Table 1)" in n for n in names)
    assert names.index("VAE (published, Table 1)") < names.index("balanced")  # 0.448 > 0.3
    one_line_error(capsys, "leaderboard", str(d), *no_cache, "--class", "2",
                   match="no submission for class 2")


def test_html_and_outputs(capsys, tmp_path, no_cache):
    d = tmp_path / "subs"
    write(fake("evil", 0.5, 0.5, label="<script>alert(1)</script>", version="$x$ <b>",
               description="a & b </li>"), d)
    write(fake("plain", 0.4, 0.4), d)
    out = tmp_path / "board"
    code, md, err = run(capsys, "leaderboard", str(d), *no_cache, "-o", str(out))
    assert code == 0, err
    page = (out / "leaderboard.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b &lt;/li&gt;" in page and "$x$ &lt;b&gt;" in page
    assert "$x$ <b>" not in page and "</li>," not in page
    assert "data:image/png;base64,iVBORw0KGgo" in page  # the plot, embedded
    assert (out / "leaderboard.md").read_text() == md
    assert json.loads((out / "leaderboard.json").read_text())["groups"][0]["entries"]
    one_line_error(capsys, "leaderboard", str(d), *no_cache, "-o", str(out),
                   match="already exists")
    # A generator *name* must be a model key (it names the file): '<script>' is refused.
    doc = json.loads(fake("evil", 0.5, 0.5).to_json())
    doc["generator"]["name"] = "<script>"
    bad = d / "submission_x_class1.json"
    bad.write_text(json.dumps(doc))
    one_line_error(capsys, "leaderboard", str(bad), *no_cache, match="$.generator.name")


def test_written_submissions_never_carry_an_invalid_document(tmp_path):
    broken = dataclasses.replace(fake("x", 0.5, 0.5), reference_sha256="nope")
    with pytest.raises(SubmissionError, match=r"\$\.reference_sha256"):
        submission.write(broken, tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_the_repository_entries_are_valid_and_shown_in_the_docs(reference):
    """docs/leaderboard/ holds valid submissions, those with samples verify here, and
    docs/leaderboard.md shows their table."""
    entries = leaderboard.load([ROOT / "docs" / "leaderboard"])
    assert len(entries) >= 2 and {s.generator.kind for _, s in entries} >= {"baseline"}
    verdicts = leaderboard.verify_all(entries, leaderboard.Referees())
    assert sum(v.verified for v in verdicts) >= 2
    assert all(v.verified or v.note == "no samples" for v in verdicts)
    text = leaderboard.to_markdown(leaderboard.build(entries, verdicts=verdicts))
    tables = text.split("\n", 2)[2]  # after the ranking line
    docs = (ROOT / "docs" / "leaderboard.md").read_text()
    assert tables in docs, "rerun `elpagen leaderboard docs/leaderboard` into docs/leaderboard.md"
