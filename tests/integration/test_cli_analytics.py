"""`streamer analytics rollup`: runs the rollup once and says what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer import cli


def test_rollup_once_then_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    assert cli.main(["analytics", "rollup", "--data-dir", data]) == 0
    assert "rolled up 0 events" in capsys.readouterr().out
    assert cli.main(["analytics", "rollup", "--reset", "--data-dir", data]) == 0
    assert "rolled up 0 events" in capsys.readouterr().out
