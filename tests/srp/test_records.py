"""SRP's records are written only by their owner modules (``totem.srp.records``): an AST scan.

A write is an assignment (plain, augmented, or a ``del`` of an item) to a record's field,
a call of a mutating method on a field (``append``, ``add``, ``clear``, ``release_to``...),
or ``merge(field, ...)`` (``totem.srp.memb``). The record is reached as ``<x>.<record>``
(``self.ring``, ``core.order``...) or through a local name bound to one
(``order = self.order``).
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import totem
from totem.srp.records import OWNERS

PACKAGE = Path(totem.__file__).resolve().parent

FIELDS = {name: {f.name for f in fields(cls)} for name, (cls, _owner) in OWNERS.items()}
OWNER = {name: owner for name, (_cls, owner) in OWNERS.items()}
MUTATORS = {
    "add",
    "append",
    "appendleft",
    "clear",
    "copy_from",
    "discard",
    "extend",
    "insert",
    "pop",
    "popleft",
    "reinit",
    "release_to",
    "remove",
    "update",
}


def _record_of(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The record an expression denotes: ``<x>.ring`` or a name bound to one."""
    if isinstance(node, ast.Attribute) and node.attr in OWNERS:
        return node.attr
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    return None


def _field_of(node: ast.expr, aliases: dict[str, str]) -> tuple[str, str] | None:
    """(record, field) for ``<record>.<field>``, possibly subscripted."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        record = _record_of(node.value, aliases)
        if record is not None and node.attr in FIELDS[record]:
            return record, node.attr
    return None


def writes(source: str) -> list[tuple[int, str, str]]:
    """(line, record, field) of every write to a record field in ``source``."""
    found: list[tuple[int, str, str]] = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        aliases: dict[str, str] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                pairs: list[tuple[ast.expr, ast.expr | None]] = []
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        pairs.extend(zip(target.elts, node.value.elts, strict=False))
                    else:
                        pairs.append((target, node.value))
                for target, value in pairs:
                    if isinstance(target, ast.Name) and value is not None:
                        record = _record_of(value, {})
                        if record is not None:
                            aliases[target.id] = record
        for node in ast.walk(function):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    targets.extend(target.elts if isinstance(target, ast.Tuple) else [target])
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets.append(node.target)
            elif isinstance(node, ast.Delete):
                targets.extend(node.targets)
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
                    targets.append(func.value)
                elif isinstance(func, ast.Name) and func.id == "merge" and node.args:
                    targets.append(node.args[0])
            for target in targets:
                hit = _field_of(target, aliases)
                if hit is not None:
                    found.append((node.lineno, *hit))
    return found


def test_every_record_write_is_in_its_owner_module() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.stem
        for line, record, name in writes(path.read_text()):
            if not (path.parent.name == "srp" and module == OWNER[record]):
                where = path.relative_to(PACKAGE.parent)
                wrong.append(f"{where}:{line}: {record}.{name} (owner: {OWNER[record]})")
    assert wrong == []


def test_the_scan_sees_direct_aliased_and_mutating_writes() -> None:
    source = """
def f(self, core):
    self.ring.proc_list = []
    order = self.order
    order.my_aru += 1
    recovery, visit = self.recovery, self.visit
    visit.pending = None
    core.flow.my_trc = 0
    merge(self.ring.failed_list, (1,))
    self.order.regular_queue.add(1, None)
    del self.ring.memb_list[0]
    self.stats.drop("x")
    x = self.order.my_aru
"""
    assert [(r, n) for _line, r, n in writes(source)] == [
        ("ring", "proc_list"),
        ("order", "my_aru"),
        ("visit", "pending"),
        ("flow", "my_trc"),
        ("ring", "memb_list"),
        ("ring", "failed_list"),
        ("order", "regular_queue"),
    ]
