"""No protocol core reads a clock or the OS's randomness (``../shared/DESIGN.md``, the rule
that shapes everything: time is an argument, randomness an injected source).

An AST scan of every module of the product's packages finds each read of a clock
(``time.time``, ``time.monotonic``, ``datetime.now`` ...) and of the OS's randomness
(``os.urandom``, ``secrets``, ``uuid.uuid4``, ``random.SystemRandom``, the ``random``
module's shared generator, an unseeded ``random.Random()``), called or passed as a value.
Only the drivers listed in :data:`DRIVERS` may read them: the daemons, their asyncio
drivers and the command-line tools, which hand time and randomness to the cores.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.import_graph import REPO, modules_of

PACKAGES = ("totem", "votequorum", "qnetd", "pvecluster", "simulations")

DRIVERS: dict[str, str] = {
    "totem.demo": "the three-node demo script: waits for the ring, writes a key",
    "totem.ipc.setup": "libqb IPC's random socket and shared-memory names, as libqb's",
    "totem.node.daemon": "the node daemon: its cores' clock, boot epoch and randomness",
    "totem.node.driver": "the node's asyncio driver: the wall clock",
    "totem.tools.keygen": "corosync-keygen: the key's random bytes",
    "votequorum.qdevice.agent": "the qdevice client's asyncio driver: clock, reconnect jitter",
    "qnetd.certs": "certificate tool: validity from today",
    "pvecluster.api": "the cluster manager's join API (HTTPS): tickets, salts, certificates",
    "pvecluster.cfsd": "the replicated filesystem's daemon: the clock for its core",
    "pvecluster.client": "pycorosync-cfs, a command-line tool",
    "pvecluster.pvecm": "pvecm, a command-line tool: waits, keys",
    "pvecluster.web": "the web panel's server: tickets, task times",
    "simulations.runner": "the wall time a simulated run took, and its budget",
    "simulations.campaign": "a campaign's wall-time budget",
    "simulations.backends": "a Dask campaign counts the cluster's worker threads every 30 s",
}
"""Module (or package) -> why it may read a clock or the OS's randomness."""

_CLOCKS = {
    "time": {
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "process_time",
        "process_time_ns",
        "clock_gettime",
        "clock_gettime_ns",
    },
    "os": {"urandom", "getrandom"},
    "random": {"SystemRandom"},
    "uuid": {"uuid1", "uuid4"},
}
_NOW_WITHOUT_ARGUMENT = {"localtime": 0, "gmtime": 0, "ctime": 0, "strftime": 1}
"""``time`` functions that read the clock when called with at most this many arguments."""
_DATETIME_NOW = {"now", "utcnow", "today"}
_SEEDED = {"Random"}
"""``random`` names that are not the module's shared, OS-seeded generator."""


def _findings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    modules: dict[str, str] = {}
    """Local name -> the module it names (``import time as t``)."""
    datetimes: set[str] = set()
    """Local names of ``datetime.datetime`` and ``datetime.date``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            for alias in node.names:
                name = alias.asname or alias.name
                if node.module == "datetime" and alias.name in ("datetime", "date"):
                    datetimes.add(name)
                elif node.module == "secrets" or alias.name in _CLOCKS.get(node.module, ()):
                    yield node.lineno, f"from {node.module} import {alias.name}"
                elif node.module == "random" and alias.name not in _SEEDED:
                    yield node.lineno, f"from random import {alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            owner = func.value
            if isinstance(owner, ast.Name) and modules.get(owner.id) == "time":
                limit = _NOW_WITHOUT_ARGUMENT.get(func.attr)
                if limit is not None and len(node.args) + len(node.keywords) <= limit:
                    yield node.lineno, f"time.{func.attr}() without a time"
            if func.attr in _DATETIME_NOW and (
                (isinstance(owner, ast.Name) and owner.id in datetimes)
                or (
                    isinstance(owner, ast.Attribute)
                    and isinstance(owner.value, ast.Name)
                    and modules.get(owner.value.id) == "datetime"
                )
            ):
                yield node.lineno, f"datetime {func.attr}()"
            if (
                func.attr == "Random"
                and isinstance(owner, ast.Name)
                and modules.get(owner.id) == "random"
                and not node.args
                and not node.keywords
            ):
                yield node.lineno, "random.Random() seeded by the OS"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = modules.get(node.value.id)
            if module is None:
                continue
            if node.attr in _CLOCKS.get(module, ()) or module == "secrets":
                yield node.lineno, f"{module}.{node.attr}"
            elif module == "random" and node.attr not in _SEEDED:
                yield node.lineno, f"random.{node.attr} (the shared generator)"


def _allowed(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in DRIVERS)


def _scan() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for module, path in modules_of(PACKAGES).items():
        tree = ast.parse(Path(path).read_text(), str(path))
        lines = [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in _findings(tree)]
        if lines:
            found[module] = sorted(lines)
    return found


def test_no_core_reads_a_clock_or_the_os_randomness() -> None:
    found = _scan()
    cores = [line for module, lines in found.items() if not _allowed(module) for line in lines]
    assert cores == [], "a core reads a clock or randomness: pass it in from its driver"


def test_every_listed_driver_exists_and_still_needs_its_place() -> None:
    found = _scan()
    modules = modules_of(PACKAGES)
    for name in DRIVERS:
        assert any(m == name or m.startswith(name + ".") for m in modules), name
        assert any(m == name or m.startswith(name + ".") for m in found), (
            f"{name} reads no clock or randomness any more: take it off the list"
        )


def test_the_scan_sees_what_it_looks_for() -> None:
    source = """
import os, random, time
import datetime as dt
from datetime import datetime
from secrets import token_hex
a = time.monotonic()
b = os.urandom
c = random.random()
d = random.Random()
e = random.Random(7)
f = datetime.now()
g = dt.datetime.utcnow()
h = time.strftime("%H")
i = time.strftime("%H", time.localtime(0.0))
"""
    found = sorted(_findings(ast.parse(source)))
    assert found == [
        (5, "from secrets import token_hex"),
        (6, "time.monotonic"),
        (7, "os.urandom"),
        (8, "random.random (the shared generator)"),
        (9, "random.Random() seeded by the OS"),
        (11, "datetime now()"),
        (12, "datetime utcnow()"),
        (13, "time.strftime() without a time"),
    ]
