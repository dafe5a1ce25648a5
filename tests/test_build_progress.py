"""Progress for long builds: the library reports it, only cli.py draws it."""

import os
import pty
import subprocess
import sys

from click.testing import CliRunner

from deckgen.build import build
from deckgen.cli import ProgressBars, main


def test_build_reports_rendering_and_packaging(real_cards, tmp_path):
    reports = []
    result = build(
        real_cards, tmp_path / "out", now=1_800_000_000, progress=lambda *args: reports.append(args)
    )
    steps = [step for step, _done, _total in reports]
    assert steps == sorted(steps, key=["render", "package"].index)  # rendering first, then packaging
    for step in ("render", "package"):
        counts = [(done, total) for name, done, total in reports if name == step]
        assert [done for done, _ in counts] == sorted(done for done, _ in counts)
        assert counts[-1][0] == counts[-1][1]
    assert counts[-1][1] == len(result.packages)


def test_nothing_to_do_reports_no_progress(real_cards, tmp_path):
    build(real_cards, tmp_path / "out", now=1_800_000_000)
    reports = []
    build(real_cards, tmp_path / "out", now=1_800_000_000, progress=lambda *args: reports.append(args))
    assert reports == []  # every field from the cache, every package kept


def test_quiet_build_prints_nothing_but_builds(real_cards, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "--quiet", "--cards", str(real_cards), "--out", str(out)])
    assert result.exit_code == 0
    assert result.output == ""
    assert (out / "aws-containers.apkg").is_file()


def test_output_that_is_not_a_terminal_has_no_progress_bar(real_cards, tmp_path, monkeypatch):
    monkeypatch.setattr(ProgressBars, "DELAY", 0)  # a bar at once, were there a terminal
    result = CliRunner().invoke(main, ["build", "--cards", str(real_cards), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert result.output.startswith("Decks:\n")
    assert "Rendering" not in result.output and "Packaging" not in result.output


def test_terminal_gets_progress_bars(real_cards, tmp_path):
    """The same build on a real terminal (a pty) draws its bars."""
    argv = ["deckgen", "build", "--cards", str(real_cards), "--out", str(tmp_path / "out")]
    script = f"import sys, deckgen.cli as cli; cli.ProgressBars.DELAY = 0; sys.argv = {argv!r}; cli.main()"
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", script], stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty closes when the build ends
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=120) == 0, output
    assert b"Rendering" in output and b"Packaging" in output
