"""Running the CLI in-process from tests: shared by the CLI, error and fault tests."""

from __future__ import annotations

from elpagen import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``elpagen ARGV``; returns (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv: str, match: str | tuple[str, ...] = "") -> str:
    """Run the CLI; assert exit 2 and exactly one stderr line ``error: ...`` holding ``match``."""
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_USAGE, (code, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for m in (match,) if isinstance(match, str) else match:
        assert m in lines[0], lines[0]
    return lines[0]
