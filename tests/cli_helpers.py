"""Running the CLI in-process from tests: shared by the CLI, error and fault tests."""

from __future__ import annotations

import socket

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


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/train_set.pkl"
