"""libcpg client programs for the real side of process-group traffic, built at run time.

* ``cpgload`` (``tests/interop/cpgload.c``, ours): agreed order throughput with an order
  digest; prints ``cpgload role=... msgs=... rate=...msg/s ... digest=...``.
* ``cpglat`` (``bench/cpglat.c``): delivery latency at a fixed rate; prints
  ``cpglat role=... p50_us=... p99_us=... digest=...``.

Both are compiled with ``gcc ... -lcpg`` (Debian: ``gcc libcpg-dev``) into a directory the
caller owns; binaries are never part of the repository.  `parse_report` reads their one-line
reports, and those of our Python counterparts (`tests.interop.pycpg`), which print the same
layout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.interop.mixed import PROJECT_ROOT

__all__ = ["CPG_HEADER", "build_cpg_tool", "cpg_tool_problem", "parse_report", "tool_source"]

CPG_HEADER = Path("/usr/include/corosync/cpg.h")


def tool_source(name: str) -> Path | None:
    """Where the C source of ``name`` (``cpgload`` or ``cpglat``) is: both are in the
    repository (``tests/interop/cpgload.c``, ``bench/cpglat.c``)."""
    if name == "cpglat":
        source = PROJECT_ROOT / "bench" / "cpglat.c"
    elif name == "cpgload":
        source = Path(__file__).with_name("cpgload.c")
    else:
        raise ValueError(f"unknown tool {name!r}")
    return source if source.is_file() else None


def cpg_tool_problem(name: str) -> str | None:
    """Why ``name`` cannot be built here, or None."""
    if shutil.which("gcc") is None:
        return "gcc is not installed (apt-get install gcc libcpg-dev)"
    if not CPG_HEADER.is_file():
        return "libcpg-dev is not installed (apt-get install gcc libcpg-dev)"
    if tool_source(name) is None:
        return f"the source of {name} is missing from the repository"
    return None


def build_cpg_tool(name: str, dest: Path) -> Path:
    """Compile ``name`` into ``dest`` (created if needed) and return the binary's path."""
    problem = cpg_tool_problem(name)
    if problem is not None:
        raise RuntimeError(problem)
    source = tool_source(name)
    assert source is not None
    dest.mkdir(parents=True, exist_ok=True)
    binary = dest / name
    cp = subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(source), "-lcpg"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if cp.returncode != 0:
        raise RuntimeError(f"building {name} failed: {cp.stderr.strip()}")
    return binary


def parse_report(line: str) -> dict[str, str]:
    """``cpgload role=send node=1 msgs=... rate=63266msg/s ...`` -> ``{"tool": "cpgload",
    "role": "send", ..., "rate": "63266"}`` (units stripped from ``rate``)."""
    tool, _, rest = line.strip().partition(" ")
    out = {"tool": tool}
    for item in rest.split():
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"not a cpg tool report: {line!r}")
        out[key] = value.removesuffix("msg/s")
    return out
