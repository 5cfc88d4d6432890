"""The corosync.conf editor: check an edit, raise ``config_version``, show the diff, save.

An edit of the replicated ``/etc/pve/corosync.conf`` reaches every node's own file and makes
the whole cluster reload it (ref cluster-manager.md 4.7), so it is checked before anything
is written, the way the engine will read it:

1. the grammar and every check the engine makes at start-up (:func:`totem.config.parse_text`),
   each error as ``/etc/pve/corosync.conf:LINE: why``; its warnings are shown;
2. Proxmox's parser and ``verify_conf`` (the checks ``pvecm addnode`` makes);
3. ``config_version``: raised for the user to one more than the file's current version when
   the edit does not raise it; pmxcfs reads the *first* ``config_version:`` of the text
   (``cluster_config_version``), which must be the totem section's;
4. the run-time reload every node will make (:func:`totem.node.reload.plan_reload`): a change
   a running node refuses (an address changed under the same node id, say) is an error, keys
   that only apply at the next start are warnings, nodes removed by hand are warnings.

The result carries the final text and its unified diff against the current file. Saving
(:func:`save`) happens under pvecm's config-change lock (``$config_change_lock``), checks
that the file is still the one the diff was made against, and writes it as
``atomic_write_conf`` does (``corosync.conf.new`` renamed over ``corosync.conf``), so the
change is one ordered rename on every node and the originator's single cluster-wide reload.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field

from pvecluster.client.cfs import CfsClient, CfsError
from pvecluster.corosync.conf import ConfError, config_version, parse_conf
from pvecluster.paths import NodeRoot
from pvecluster.pvecm.cluster import (
    CLUSTER_CONF,
    ClusterError,
    check_cfs_quorum,
    config_change_lock,
    verify_conf,
)
from totem.config import ConfigError, CorosyncConfig, parse_text
from totem.config.parser import Item, Section, parse

__all__ = ["EditCheck", "check_edit", "digest_of", "save"]

CONF = "corosync.conf"


def digest_of(data: bytes | None) -> str:
    """The SHA-1 of the file (Proxmox's ``config_digest``); empty for no file."""
    return hashlib.sha1(data).hexdigest() if data is not None else ""


@dataclass(slots=True)
class EditCheck:
    text: str
    """The text that would be written (``config_version`` raised)."""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: int | None = None
    current_version: int = 0
    raised: bool = False
    """``config_version`` was raised here (the edit did not raise it)."""
    diff: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "text": self.text,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": self.notes,
            "config_version": self.version,
            "current_version": self.current_version,
            "diff": self.diff,
        }


def _totem(root: Section) -> Section | None:
    return next((e for e in root.entries if isinstance(e, Section) and e.name == "totem"), None)


def _with_version(text: str, totem: Section, version: int) -> str:
    """``text`` with the totem section's ``config_version`` set (inserted if missing)."""
    lines = text.split("\n")
    item = next(
        (e for e in totem.entries if isinstance(e, Item) and e.key == "config_version"), None
    )
    if item is not None:
        line = lines[item.line - 1]
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        lines[item.line - 1] = f"{indent}config_version: {version}"
    else:
        opening = lines[totem.line - 1]
        indent = opening[: len(opening) - len(opening.lstrip(" \t"))]
        lines.insert(totem.line, f"{indent}  config_version: {version}")
    return "\n".join(lines)


def _reload_problems(current: bytes, new: CorosyncConfig, check: EditCheck) -> None:
    """What the engines' reload of ``new`` would refuse or leave for later."""
    from totem.node.reload import ReloadRefused, plan_reload, read_only_changes

    try:
        running = parse_text(current.decode("utf-8", "surrogateescape"), CLUSTER_CONF)
    except ConfigError:
        return  # the current file does not load: nothing to compare with
    new_ids = {node.nodeid for node in new.nodes}
    staying = [node for node in running.nodes if node.nodeid in new_ids]
    refusals: dict[str, list[str]] = {}
    for node in running.nodes:
        label = node.name or f"node {node.nodeid}"
        if node.nodeid not in new_ids:
            check.warnings.append(
                f"{label} is removed from the nodelist here; 'Remove' (pvecm delnode) also "
                "stops its engine"
            )
            continue
        try:
            plan_reload(running, new, node)
        except ReloadRefused as err:
            refusals.setdefault(str(err), []).append(label)
    for reason, labels in refusals.items():
        who = "every node" if len(labels) == len(staying) > 1 else ", ".join(labels)
        check.errors.append(f"{who} would refuse to reload this file: {reason}")
    for key in read_only_changes(running.raw, new.raw):
        check.warnings.append(
            f"Modified entry '{key}' in corosync.conf cannot be changed at run-time: it "
            "applies when each node's engine restarts"
        )


def check_edit(current: bytes | None, text: str) -> EditCheck:
    """Check ``text`` as the next ``corosync.conf`` after ``current`` (nothing is written)."""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    current_version = config_version(current) if current else 0
    check = EditCheck(text, current_version=current_version)
    if current is not None and text.encode() == current:
        check.errors.append("no changes")
        return check
    try:
        tree = parse(text, CLUSTER_CONF)
    except ConfigError as err:
        check.errors.append(str(err))
        return check
    totem = _totem(tree)
    if totem is None:
        check.errors.append(f"{CLUSTER_CONF}: no totem section")
        return check
    item = next(
        (e for e in totem.entries if isinstance(e, Item) and e.key == "config_version"), None
    )
    try:
        wanted = int(item.value) if item is not None else 0
    except ValueError:
        wanted = 0
    version = wanted
    if wanted <= current_version:
        version = current_version + 1
        check.raised = True
        check.notes.append(f"config_version raised from {current_version} to {version}")
    check.text = _with_version(text, totem, version)
    check.version = version
    try:
        loaded = parse_text(check.text, CLUSTER_CONF)
    except ConfigError as err:
        check.errors.append(str(err))
        return check
    check.warnings.extend(loaded.warnings)
    try:
        conf = parse_conf(check.text)
    except ConfError as err:
        check.errors.append(f"unable to parse {CLUSTER_CONF}: {err}")
        return check
    errors, warnings = verify_conf(conf)
    check.errors.extend(errors)
    check.warnings.extend(warnings)
    first = config_version(check.text.encode())
    if first != version:
        check.errors.append(
            f"{CLUSTER_CONF}: the first 'config_version:' of the file says {first}, not the "
            f"totem section's {version}; pmxcfs reads the first one (remove the other)"
        )
    if current:
        _reload_problems(current, loaded, check)
    check.diff = "".join(
        difflib.unified_diff(
            (current or b"").decode(errors="replace").splitlines(keepends=True),
            check.text.splitlines(keepends=True),
            f"a{CLUSTER_CONF}",
            f"b{CLUSTER_CONF}",
        )
    )
    return check


def save(client: CfsClient, root: NodeRoot, text: str, base_digest: str) -> EditCheck:
    """Write ``text`` (a checked edit) over the replicated corosync.conf.

    ClusterError when the cluster is not quorate (``cluster not ready - no quorum?``), when
    there is no cluster configuration to edit (424: ``pvecm create`` makes one), when the
    file changed since ``base_digest`` (409), when the text does not pass
    :func:`check_edit` or when the filesystem refuses the write (its errno's message)."""
    check_cfs_quorum(client)

    def code() -> EditCheck:
        current = client.read_or_none(CONF)
        if current is None:  # a cluster is made by pvecm create (authkey, nodelist, restart)
            raise ClusterError(
                f"Error: Corosync config '{CLUSTER_CONF}' does not exist - is this node part "
                "of a cluster?",
                status=424,
            )
        if digest_of(current) != base_digest:
            raise ClusterError(
                f"{CLUSTER_CONF} was changed meanwhile (now version "
                f"{config_version(current) if current else 0}): check your edit against it",
                status=409,
            )
        check = check_edit(current, text)
        if not check.ok:
            raise ClusterError(
                "invalid corosync.conf", {f"error{i}": e for i, e in enumerate(check.errors)}, 400
            )
        if check.raised:
            raise ClusterError(
                f"config_version must be above {check.current_version}: check the edit again",
                status=400,
            )
        try:
            client.write("corosync.conf.new", check.text.encode())
            client.rename("corosync.conf.new", CONF)
        except CfsError as err:
            raise ClusterError(f"unable to write '{CLUSTER_CONF}' - {err.strerror}") from None
        return check

    return config_change_lock(client, root, code)
