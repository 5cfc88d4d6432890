"""``pycorosync-sim vq``: Debian's ``corosync-vqsim``, on the real node stack.

corosync-vqsim forks one votequorum engine per node and fakes Totem: it
hands each numbered *partition* a new ring id whenever its node list changes.
Here every node is the daemon's full ``NodeStack`` (Totem SRP, sync,
votequorum) on the simulated network, so a ``split`` is a real network
partition, detected by real token loss and resolved by real membership
rounds -- in virtual time, so it still answers at once.

Commands (as vqsim reads them; ``#`` starts a comment)::

    up [P:]N[,N]... ...     start nodes (in partition P, default 0)
    down N[,N]... ...       stop nodes (graceful leave)
    split|move P:N[,N]...   move nodes to partition P (netsplit)
    join P Q [R...]         merge partitions Q, R... into P
    qdevice on|off [P:]N... a simulated quorum device on these nodes: it
                            registers, casts its vote 10 s later, then every 5 s
    autofence on|off        on a split, stop the nodes of inquorate partitions
    timeout N               wait at most N ms (virtual) for a command to settle
    sync on|off             wait (or not) for partitions to settle after a command
    assert on|off           exit with status 2 when a command does not settle
    show                    print every node's quorum state
    run DURATION            (pycorosync-sim only) let virtual time pass: run 11s
    exit | quit | q

After each command that changes the cluster the session runs the simulation
until every partition has settled: each node of a partition is on one ring
whose members are exactly that partition's nodes, sync completed, and its
quorum view names that ring. Then it prints, as vqsim does::

    0:1: q=1 ring=[1.14] nodes=[1 2 3 4 5]
    #autofence: off

Ring ids are the real ones our Totem forms, so they differ from vqsim's fake
ones (vqsim adds 4 per change and takes the partition's first node as
representative); compare quorum states with ring ids left out.

Differences from vqsim 3.1.7, on purpose: ``down 4,5`` stops 4 and 5 (vqsim
stops only the first node named, whatever the help says); ``sync off`` does
not also switch autofence (a vqsim slip); ``timeout`` is in virtual time and
defaults to ``3 x (token + consensus)`` or 60 s, whichever is longer (a real
partition needs token + consensus to be noticed); a qdevice tie-break after a
``split`` settles (vqsim 3.1.7 never does).

``--json`` prints, instead of the text, one line per command:
``{"command": ..., "nodes": [{"node_id", "partition", "quorate",
"expected_votes", "total_votes", "quorum", "ring_id", "members"}]}`` for the
nodes that are up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from simulations.checker import Checker
from simulations.cluster import Simulation
from simulations.scenario import parse_duration
from simulations.stacknode import StackNode, stack_factory
from totem.config import CorosyncConfig
from totem.ringid import RingId

__all__ = ["USAGE", "VqSession", "run_vq"]

QDEVICE_NAME = "VQsim_qdevice"
_QDEVICE_TIMEOUT = 10.0
"""vqsim's qdevice timeout (VOTEQUORUM_QDEVICE_DEFAULT_TIMEOUT); it polls every half of it."""

USAGE = "".join(
    line + "\n"
    for line in (
        "  All node IDs in the cluster are unique and belong to a numbered 'partition' (default=0)",
        "",
        "up         [<partition>:][<nodeid>[,<nodeid>] ...] [[<partition>:][<nodeid>...]] [...]",
        "           bring node(s) online in the specified partition(s)",
        "down       <nodeid>,[<nodeid>...]",
        "           send nodes offline (shut them down)",
        "move/split [<partition>:][<nodeid>[,<nodeid>] ...] [[<partition>:][<nodeid>...]] [...]",
        "           Move nodes from one partition to another (netsplit)",
        "           <partition> here is the partition to move the nodes to",
        "join       <partition> <partition> [<partition>] ... ",
        "           Join partitions together (reverse of a netsplit)",
        "qdevice    on|off [<partition>:][<nodeid>[,<nodeid>] ...] "
        "[[<partition>:][<nodeid>...]] [...]",
        "           Enable quorum device in specified nodes",
        "autofence  on|off",
        "           automatically 'down' nodes on inquorate side on netsplit",
        "timeout    <n> (default 250)",
        "           Wait a maximum of <n> milli-seconds for the next command to complete.",
        "sync       on|off (default on)",
        "           enable/disable synchronous execution of commands (wait for completion)",
        "assert     on|off (default off)",
        "           Abort the simulation run if a timeout expires",
        "show       Show current nodes status",
        "exit",
        "",
    )
)
"""corosync-vqsim's help text, byte for byte (printed for an unknown command)."""


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class VqSession:
    """One vqsim-compatible session over a simulated cluster of ``config``."""

    def __init__(
        self,
        config: CorosyncConfig,
        *,
        seed: int = 1,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        json_output: bool = False,
    ) -> None:
        self.config = config
        self.out = out
        self.err = err
        self.json = json_output
        node_ids = [node.nodeid for node in config.nodes]
        self.checker = Checker(allow_split_brain=bool(config.quorum.two_node), app_only=False)
        self.sim = Simulation(
            node_ids, stack_factory(config, seed), seed=seed, checker=self.checker
        )
        self.partitions: dict[int, list[int]] = {}
        self.autofence = False
        self.sync = True
        self.assert_on_timeout = False
        timers = config.timers
        self.timeout = max(60.0, 3 * (timers.token + timers.consensus) / 1000.0)
        self.qdevice: dict[int, int] = {}
        """Node -> generation of its polling chain (absent: no device)."""
        self._qdevice_generation = 0

    # ------------------------------------------------------------------------------------
    # output
    # ------------------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        if not self.json:
            self.out.write(text)

    def _error(self, text: str) -> None:
        self.err.write(text + "\n")

    def _partition_of(self, node: int) -> int | None:
        for number, members in self.partitions.items():
            if node in members:
                return number
        return None

    def _up_nodes(self) -> Iterator[tuple[int, int]]:
        for number in sorted(self.partitions):
            for node in self.partitions[number]:
                yield number, node

    def state_lines(self) -> list[str]:
        """vqsim's ``show``: one line per node, then the autofence line."""
        lines = []
        for number, node in self._up_nodes():
            view = self.sim.view(node)
            if view is None or view.quorate is None or view.quorum_ring is None:
                lines.append(f"{number}:{node}: q=UNINITIALIZED")
                continue
            ring = view.quorum_ring
            members = " ".join(map(str, view.quorum_members or ()))
            if ring == RingId(0, 0):
                lines.append(f"{number}:{node}: q=UNINITIALIZED")
                continue
            lines.append(f"{number}:{node}: q={int(view.quorate)} ring=[{ring}] nodes=[{members}]")
        lines.append(f"#autofence: {'on' if self.autofence else 'off'}")
        return lines

    def show(self) -> None:
        self._print("".join(line + "\n" for line in self.state_lines()))

    def json_state(self, command: str) -> dict[str, Any]:
        nodes = []
        for number, node in self._up_nodes():
            view = self.sim.view(node)
            sim_node = self.sim.slots[node].node
            votes = sim_node.votes() if sim_node is not None else None
            if view is None:
                continue
            nodes.append(
                {
                    "node_id": node,
                    "partition": number,
                    "quorate": view.quorate,
                    "expected_votes": votes.expected_votes if votes else None,
                    "total_votes": votes.total_votes if votes else None,
                    "quorum": votes.quorum if votes else None,
                    "ring_id": str(view.quorum_ring) if view.quorum_ring else None,
                    "members": list(view.quorum_members or ()),
                }
            )
        return {"command": command, "nodes": nodes}

    # ------------------------------------------------------------------------------------
    # the cluster
    # ------------------------------------------------------------------------------------
    def _apply_partitions(self) -> None:
        groups = [members for _, members in sorted(self.partitions.items()) if members]
        self.sim.network.partition(groups)
        for number in [n for n, members in self.partitions.items() if not members]:
            del self.partitions[number]

    def settled(self) -> bool:
        """Every partition is one synced ring of exactly its nodes, with a quorum view of it."""
        for members in self.partitions.values():
            want = tuple(sorted(members))
            for node in members:
                view = self.sim.view(node)
                if view is None or not view.operational or view.members != want:
                    return False
                if view.quorum_ring != view.ring_id:
                    return False
        return True

    def _settle(self) -> None:
        if not self.sync:
            return
        if not self.sim.run_for(self.timeout, self.settled):
            self._error("ERR: Partition(s) not stable within timeout")
            if self.assert_on_timeout:
                raise _Exit(2)
        self._fence_if_needed()

    def _fence_if_needed(self) -> None:
        if not self.autofence:
            return
        views = {node: self.sim.view(node) for _, node in self._up_nodes()}
        if not any(view is not None and view.quorate for view in views.values()):
            return
        fenced = [
            (number, node)
            for number, node in self._up_nodes()
            if (view := views.get(node)) is not None and not view.quorate
        ]
        for number, node in fenced:
            self._print(f"{number}:{node}: Quit (autofenced)\n")
            self.sim.crash(node)
            self.partitions[number].remove(node)
            self.qdevice.pop(node, None)
        if fenced:
            self._apply_partitions()
            if self.sync:
                self.sim.run_for(self.timeout, self.settled)

    def start_all(self) -> None:
        """What vqsim does first: every node of the nodelist up in partition 0."""
        self.partitions[0] = [node.nodeid for node in self.config.nodes]
        self._apply_partitions()
        for node in self.partitions[0]:
            self.sim.start(node)
        if not self.sim.run_for(self.timeout, self.settled):
            self._error("ERR: Partition(s) not stable within timeout")
        if self.json:
            self.out.write(json.dumps(self.json_state("start")) + "\n")
        else:
            self.show()

    # ------------------------------------------------------------------------------------
    # commands
    # ------------------------------------------------------------------------------------
    def command(self, line: str) -> None:
        """Run one command line (``_Exit`` on exit)."""
        words = line.split()
        if not words:
            return
        name, args = words[0].lower(), words[1:]
        minimum = {"up": 1, "down": 1, "move": 2, "split": 2, "join": 2, "autofence": 1}
        minimum |= {"qdevice": 1, "timeout": 1, "sync": 1, "assert": 1, "run": 1}
        handler: Callable[[list[str]], None] | None = getattr(self, "cmd_" + name, None)
        if name in ("exit", "quit", "q"):
            raise _Exit(0)
        if handler is None or len(words) < minimum.get(name, 0):
            self._print(USAGE)
            return
        handler(args)

    def _node_specs(self, specs: Iterable[str]) -> Iterator[tuple[int, int]]:
        """``[P:]N[,N...]`` -> (partition, node) pairs, as vqsim parses them (atoi)."""
        for spec in specs:
            partition_text, colon, nodes_text = spec.partition(":")
            if not colon:
                partition_text, nodes_text = "0", spec
            partition = _atoi(partition_text)
            for node_text in nodes_text.split(","):
                yield partition, _atoi(node_text)

    def cmd_up(self, args: list[str]) -> None:
        known = {node.nodeid for node in self.config.nodes}
        started = 0
        for partition, node in self._node_specs(args):
            current = self._partition_of(node)
            if current is not None:
                self._error(f"ERR: nodeid {node} already exists in partition {current}")
                continue
            if node not in known:
                self._error(f"ERR: nodeid {node} is not in the nodelist of {self.config.path}")
                continue
            self.partitions.setdefault(partition, []).append(node)
            self._apply_partitions()
            self.sim.start(node)
            started += 1
        if started:
            self._settle()
            self._after_change()

    def cmd_down(self, args: list[str]) -> None:
        stopped = 0
        for _partition, node in self._node_specs(args):
            number = self._partition_of(node)
            if number is None:
                self._error(f"ERR: nodeid {node} is not up")
                continue
            self.sim.stop(node)
            self.partitions[number].remove(node)
            self.qdevice.pop(node, None)
            self._print(f"{number}:{node}: Quit (on request)\n")
            stopped += 1
        if stopped:
            self._apply_partitions()
            self._settle()
            self._after_change()

    def cmd_split(self, args: list[str]) -> None:
        for partition, node in self._node_specs(args):
            number = self._partition_of(node)
            if number is None:
                self._print(f"ERR: node {node} does not exist\n")
                continue
            self.partitions[number].remove(node)
            self.partitions.setdefault(partition, []).append(node)
        self._apply_partitions()
        self._settle()
        self._after_change()

    cmd_move = cmd_split

    def cmd_join(self, args: list[str]) -> None:
        target = _atoi(args[0])
        for other in args[1:]:
            source = _atoi(other)
            if source == target:
                continue
            moved = self.partitions.pop(source, [])
            if moved:
                self.partitions.setdefault(target, []).extend(moved)
        self._apply_partitions()
        self._settle()
        self._after_change()

    def _after_change(self) -> None:
        if self.sync:
            if self.json:
                return
            self.show()

    def cmd_autofence(self, args: list[str]) -> None:
        value = _on_off(args[0])
        if value is None:
            self._error("ERR: autofence value must be 'on' or 'off'")
            return
        self.autofence = value
        self._print(f"#autofence: {'on' if value else 'off'}\n")

    def cmd_sync(self, args: list[str]) -> None:
        value = _on_off(args[0])
        if value is None:
            self._error("ERR: sync value must be 'on' or 'off'")
            return
        self.sync = value
        self._print(f"#sync: {'on' if value else 'off'}\n")

    def cmd_assert(self, args: list[str]) -> None:
        value = _on_off(args[0])
        if value is None:
            self._error("ERR: assert value must be 'on' or 'off'")
            return
        self.assert_on_timeout = value

    def cmd_timeout(self, args: list[str]) -> None:
        self.timeout = max(0.0, _atoi(args[0]) / 1000.0)

    def cmd_show(self, args: list[str]) -> None:
        self.show()

    def cmd_run(self, args: list[str]) -> None:
        try:
            duration = parse_duration(args[0])
        except ValueError as exc:
            self._error(f"ERR: {exc}")
            return
        self.sim.run_for(duration)

    def cmd_qdevice(self, args: list[str]) -> None:
        value = _on_off(args[0])
        if value is None:
            self._error("ERR: qdevice should be 'on' or 'off'")
            return
        for _partition, node in self._node_specs(args[1:]):
            if self._partition_of(node) is None:
                continue
            if value:
                self._qdevice_on(node)
            else:
                self._qdevice_off(node)

    def _stack(self, node: int) -> StackNode | None:
        sim_node = self.sim.slots[node].node
        return sim_node if isinstance(sim_node, StackNode) else None

    def _qdevice_on(self, node: int) -> None:
        stack = self._stack(node)
        if stack is None or stack.votequorum is None:
            return
        if node in self.qdevice:
            return
        try:
            self.sim.poke(node, lambda: stack.votequorum.qdevice_register(QDEVICE_NAME))
        except Exception as exc:  # VotequorumError: vqsim prints the error and goes on
            self._error(f"{node}: qdevice registration failed: {exc}")
            return
        self._qdevice_generation += 1
        self.qdevice[node] = self._qdevice_generation
        self._schedule_poll(node, self._qdevice_generation, _QDEVICE_TIMEOUT)

    def _qdevice_off(self, node: int) -> None:
        stack = self._stack(node)
        if stack is None or node not in self.qdevice:
            return
        del self.qdevice[node]
        self._poll(node, cast_vote=False)

    def _schedule_poll(self, node: int, generation: int, delay: float) -> None:
        def tick() -> None:
            if self.qdevice.get(node) != generation:
                return
            if self._poll(node, cast_vote=True):
                self._schedule_poll(node, generation, _QDEVICE_TIMEOUT / 2)

        self.sim.call_at(self.sim.now + delay, tick)

    def _poll(self, node: int, cast_vote: bool) -> bool:
        stack = self._stack(node)
        if stack is None or stack.votequorum is None:
            return False
        ring = stack.stack.ring_id or RingId(0, 0)
        now = self.sim.now
        try:
            self.sim.poke(
                node, lambda: stack.votequorum.qdevice_poll(QDEVICE_NAME, cast_vote, ring, now)
            )
        except Exception as exc:  # VotequorumError
            self._error(f"{node}: qdevice poll failed: {exc}")
            return False
        return True

    # ------------------------------------------------------------------------------------
    # the loop
    # ------------------------------------------------------------------------------------
    def run(self, lines: Iterable[str], *, prompt: str = "#vqsim> ", echo: bool = True) -> int:
        """Read commands until ``exit`` or the end of input; returns the exit status."""
        self.start_all()
        iterator = iter(lines)
        show_prompt = True
        try:
            while True:
                if show_prompt and not self.json:
                    self.out.write(prompt)
                    self.out.flush()
                try:
                    raw = next(iterator)
                except StopIteration:
                    return 0
                line = raw.rstrip("\r\n")
                if echo and not self.json:
                    self.out.write(line + "\n")
                if line.startswith("#"):
                    show_prompt = False
                    continue
                show_prompt = True
                self.command(line)
                if self.json and line.split():
                    self.out.write(json.dumps(self.json_state(line.strip())) + "\n")
        except _Exit as stop:
            return stop.status
        finally:
            self.out.flush()


def _atoi(text: str) -> int:
    """C ``atoi``: leading digits, 0 if none."""
    digits = ""
    for index, char in enumerate(text.strip()):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0


def _on_off(text: str) -> bool | None:
    lowered = text.lower()
    if lowered == "on":
        return True
    if lowered == "off":
        return False
    return None


def run_vq(
    config: CorosyncConfig,
    lines: Iterable[str],
    *,
    seed: int = 1,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    json_output: bool = False,
    interactive: bool = False,
) -> int:
    """Run a vq session over ``lines``; returns the exit status (2: assert on timeout)."""
    session = VqSession(config, seed=seed, out=out, err=err, json_output=json_output)
    if interactive:
        return session.run(lines, prompt="vqsim> ", echo=False)
    return session.run(lines)
