"""The `walkout` command's entry point: `main`, then an exit that skips collecting the heap."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from walkout_cli.main import run


def test_the_command_exits_with_what_main_returned_and_leaves_the_heap_uncollected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a command that fails on a folder that is not there
    monkeypatch.setattr(sys, "argv", ["walkout", "schema", "check", "--dir", str(tmp_path / "x")])
    frozen = gc.get_freeze_count()
    try:
        # When it is run as the `walkout` command
        with pytest.raises(SystemExit) as exited:
            run()
        # Then it exits with main's code, and what was alive is out of the last collection
        assert exited.value.code == 2
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
