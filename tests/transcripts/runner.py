"""Run the transcripts of ``testdata/``: one interpreter per core, chosen by the subfolder.

``python -m tests.transcripts [--rewrite] [FILE ...]`` runs them from the command line;
``pytest tests/transcripts [--rewrite]`` runs them as tests (``TRANSCRIPTS_REWRITE=1`` does
what ``--rewrite`` does). Rewriting stores the actual output as the expected one: read the
diff before committing it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from tests.transcripts.datadriven import DataDrivenError, run_file
from tests.transcripts.interp import Interpreter

__all__ = ["ROOT", "TESTDATA", "check", "interpreter_for", "rewrite_requested", "transcripts"]

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"


def _srp() -> Interpreter:
    from tests.transcripts.srp import SrpInterpreter

    return SrpInterpreter()


def _knet() -> Interpreter:
    from tests.transcripts.knet import KnetInterpreter

    return KnetInterpreter()


def _votequorum() -> Interpreter:
    from tests.transcripts.votequorum import VotequorumInterpreter

    return VotequorumInterpreter()


def _qnetd() -> Interpreter:
    from tests.transcripts.qnetd import QnetdInterpreter

    return QnetdInterpreter()


def _cfs() -> Interpreter:
    from tests.transcripts.cfs import CfsInterpreter

    return CfsInterpreter()


INTERPRETERS: dict[str, Callable[[], Interpreter]] = {
    "cfs": _cfs,
    "srp": _srp,
    "knet": _knet,
    "votequorum": _votequorum,
    "qnetd": _qnetd,
}


def interpreter_for(path: Path) -> Interpreter:
    core = path.parent.name
    if core not in INTERPRETERS:
        raise ValueError(f"{path}: no interpreter for the folder {core!r}")
    return INTERPRETERS[core]()


def transcripts() -> list[Path]:
    return sorted(TESTDATA.glob("*/*.txt"))


def rewrite_requested() -> bool:
    return os.environ.get("TRANSCRIPTS_REWRITE", "") not in ("", "0")


def actual(path: Path) -> str:
    """The file as the cores write it now."""
    name = str(path.relative_to(ROOT))
    return run_file(name, path.read_text(), interpreter_for(path).run)


def check(path: Path, rewrite: bool = False) -> str | None:
    """None when the transcript matches (or was rewritten), else a unified diff."""
    expected = path.read_text()
    try:
        got = actual(path)
    except DataDrivenError as err:
        return f"{err}\n"
    if got == expected:
        return None
    if rewrite:
        path.write_text(got)
        return None
    name = str(path.relative_to(ROOT))
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            got.splitlines(keepends=True),
            f"{name} (expected)",
            f"{name} (actual)",
        )
    )
