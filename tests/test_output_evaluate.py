"""`evaluate` names the rows it counts as invalid: their lines and what is wrong."""

from __future__ import annotations

from cli_helpers import one_line_error, run

from elpagen import io, spaces

CSV = "A,B,C,D\nNa,K,Al,F\nNa,Xx,Al,F\n\nNa,Na,Al,F\nNa,K\nCs,K,Al,Cl\nNa,K,Zz,Qq\n"


def test_scan_keeps_the_first_skipped_rows_with_their_fault(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(CSV)
    scan = io.scan_samples(p, space=spaces.DEFAULT)
    assert scan.n_rows == 6 and len(scan.codes) == 2
    assert scan.examples == [(3, "unknown symbol 'Xx' at site B"), (5, "Na repeated"),
                             (6, "2 fields, 4 needed")]
    line = io.invalid_rows_warning(scan)
    assert "line 3: unknown symbol 'Xx' at site B" in line and line.endswith("and 1 more")


def test_evaluate_warns_with_the_rows(capsys, tmp_path, cache_dir):
    p = tmp_path / "s.csv"
    p.write_text(CSV)
    code, out, err = run(capsys, "evaluate", str(p), "-c", "1", "--json",
                         "--cache-dir", str(cache_dir))
    assert code == 0, err
    warning = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1, err
    assert "skipped 4 of 6 rows" in warning[0]
    assert "line 3: unknown symbol 'Xx' at site B" in warning[0]
    assert '"n_valid": 2' in out


def test_all_invalid_rows_are_named_in_the_error(capsys, tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("A,B,C,D\nNa,K,Al,Xq\n")
    one_line_error(capsys, "evaluate", str(p), "-c", "1",
                   match=("no valid compositions among 1 rows", "line 2: unknown symbol 'Xq' "
                          "at site D"))


def test_a_symbol_with_control_characters_is_shown_escaped(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("A,B,C,D\nNa,K\x1b[31m,Al,F\n")
    scan = io.scan_samples(p, space=spaces.DEFAULT)
    line = io.invalid_rows_warning(scan)
    assert "\x1b" not in line and "\\x1b" in line
