"""Random fault schedules, written as scenarios.

:func:`random_scenario` draws a cluster (2..16 nodes, short timers, the full
node stack or bare SRP, one or two redundant rings, crypto on or off) and a
sequence of steps -- partitions, one-way cuts, latency, loss, duplication,
reordering, MTU limits (on one ring or both), pauses, crashes,
restarts with or without their persisted state, graceful stops, traffic
(SAFE on SRP rings) and runs -- and renders them as scenario text. With
``qdevice`` (full stack only) the cluster also has a quorum device: a qnetd
host with a random algorithm and tie-breaker that partitions, cuts, pauses,
crashes and restarts like the nodes, so the checker judges the tie-breaks too. With
``transport="knet"`` the cluster runs knet (one or two links, crypto on or off) and
every network fault that names a ring cuts, delays or drops one knet link. Every
schedule ends by healing the network and checking that the nodes still
running form one ring again: the checker judges safety on every run, this
last expectation judges liveness once the faults are gone.

The choices come from a *chooser*: ``random.Random`` for ``pycorosync-sim
fuzz``, or a Hypothesis-backed one in the tests, so failing schedules shrink
to small scenarios that are kept as regression files.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["Chooser", "random_scenario"]

_T = TypeVar("_T")

QDEVICE_SYNC_TIMEOUT_S = 30
"""``quorum.device.sync_timeout`` (corosync's default, 30000 ms)."""


class Chooser(Protocol):
    """The three draws the generator needs (``random.Random`` has them)."""

    def randint(self, a: int, b: int) -> int: ...

    def random(self) -> float: ...


def _choice(chooser: Chooser, options: list[_T]) -> _T:
    return options[chooser.randint(0, len(options) - 1)]


def _subset(chooser: Chooser, nodes: list[int], low: int = 1) -> list[int]:
    picked = [n for n in nodes if chooser.randint(0, 1)]
    if len(picked) < low:
        picked = nodes[:low]
    return picked


def _ids(nodes: list[int]) -> str:
    return ",".join(map(str, nodes))


def _ms(chooser: Chooser, low: int, high: int) -> str:
    return f"{chooser.randint(low, high)}ms"


def random_scenario(
    chooser: Chooser,
    nodes: int,
    steps: int = 8,
    *,
    stack: str | None = None,
    qdevice: bool = False,
    transport: str = "udpu",
    rings: int | None = None,
) -> str:
    """A random, valid fault schedule for ``nodes`` nodes, as scenario text.

    ``rings`` (1 or 2, full node stack only) fixes the number of redundant rings (knet
    links) instead of drawing it; left out, the draws are those of every earlier
    version, so a campaign's seed keeps naming the same schedules.
    """
    if rings is not None and rings not in (1, 2):
        raise ValueError("rings must be 1 or 2")
    token = _choice(chooser, [200, 300, 500, 1000])
    wanted_rings = rings
    if stack is None:
        forced = qdevice or transport == "knet" or wanted_rings is not None
        stack = "full" if forced or chooser.randint(0, 2) else "srp"
    if qdevice and stack != "full":
        raise ValueError("a quorum device needs the full node stack")
    if wanted_rings == 2 and stack != "full":
        raise ValueError("redundant rings need the full node stack")
    all_nodes = list(range(1, nodes + 1))
    up = set(all_nodes)
    extras = ""
    rings = 1
    if transport == "knet":
        extras += " transport=knet"
    if stack == "full":
        two = chooser.randint(0, 3) == 0 if wanted_rings is None else wanted_rings == 2
        if two:
            rings = 2
            extras += " links=2" if transport == "knet" else " rings=2"
        if chooser.randint(0, 5) == 0:
            extras += " crypto=on"
    lines = [
        "# generated fault schedule",
        f"nodes {nodes} token={token} token_coefficient=0 stack={stack}{extras}",
    ]
    qnetd_up = False
    if qdevice:
        algorithm = _choice(chooser, ["ffsplit", "lms"] + (["2nodelms"] if nodes == 2 else []))
        tie_breaker = _choice(chooser, ["lowest", "highest", str(chooser.randint(1, nodes))])
        kap = _choice(chooser, ["", " keep_active_partition=off"])
        lines.append(f"qnetd algorithm={algorithm} tie_breaker={tie_breaker}{kap}")
        qnetd_up = True
    lines.append(f"expect members * within {max(5, 3 * token // 100)}s")

    def ring() -> str:
        """With two rings, a network fault hits one ring or both."""
        if rings == 1:
            return ""
        choice = chooser.randint(0, 2)
        return "" if choice == 2 else f" ring={choice}"

    for _ in range(steps):
        kind = chooser.randint(0, 15 if qdevice else 13)
        running = sorted(up)
        down = sorted(set(all_nodes) - up)
        if kind == 14:
            # the arbiter's host: cut off from some nodes, or down, or back
            choice = chooser.randint(0, 3)
            if choice == 0:
                side = _subset(chooser, all_nodes)
                rest = [n for n in all_nodes if n not in side]
                if rest:
                    lines.append(f"partition {{{_ids(side)},qnetd}}|{{{_ids(rest)}}}")
                else:
                    lines.append(f"partition {{{_ids(side)}}}|{{qnetd}}")
            elif choice == 1 and qnetd_up:
                lines.append(f"{_choice(chooser, ['crash', 'stop'])} qnetd")
                qnetd_up = False
            elif choice == 2 and not qnetd_up:
                lines.append("restart qnetd")
                qnetd_up = True
            elif qnetd_up:
                lines.append(f"pause qnetd {_ms(chooser, 10, 3 * token)}")
        elif kind == 15:
            lines.append(f"latency {chooser.randint(1, nodes)}-qnetd {_ms(chooser, 1, 300)}")
        elif kind == 0 and nodes > 1:
            shuffled = _subset(chooser, all_nodes)
            rest = [n for n in all_nodes if n not in shuffled]
            if rest:
                lines.append(f"partition {{{_ids(shuffled)}}}|{{{_ids(rest)}}}{ring()}")
        elif kind == 1 and nodes > 1:
            a = chooser.randint(1, nodes)
            b = chooser.randint(1, nodes - 1)
            b = b if b < a else b + 1
            lines.append(f"oneway {a}->{b}{ring()}")
        elif kind == 2:
            lines.append("heal")
        elif kind == 3:
            base = chooser.randint(1, 300)
            unit = _choice(chooser, ["us", "ms"]) if base < 50 else "us"
            jitter = chooser.randint(0, base)
            dist = _choice(chooser, ["normal", "uniform", "exponential", "pareto"])
            lines.append(f"latency * {base}{unit}±{jitter}{unit} dist={dist}{ring()}")
        elif kind == 4:
            kinds = _choice(chooser, ["", " kind=mcast", " kind=token", " kind=join,commit"])
            lines.append(f"loss {chooser.randint(0, 30)}%{kinds}{ring()}")
        elif kind == 5:
            lines.append(f"dup {chooser.randint(0, 20)}%")
        elif kind == 6:
            lines.append(f"reorder {chooser.randint(0, 20)}% {_ms(chooser, 1, 400)} kind=mcast")
        elif kind == 7:
            lines.append(f"mtu {_choice(chooser, [0, 600, 1200, 1400])}{ring()}")
        elif kind == 8 and running:
            node = _choice(chooser, running)
            lines.append(f"pause {node} {_ms(chooser, 10, 3 * token)}")
        elif kind == 9 and len(running) > 1:
            node = _choice(chooser, running)
            verb = _choice(chooser, ["crash", "crash", "stop"])
            lines.append(f"{verb} {node}")
            up.discard(node)
        elif kind == 10 and down:
            node = _choice(chooser, down)
            fresh = " fresh" if chooser.randint(0, 3) == 0 else ""
            lines.append(f"restart {node}{fresh}")
            up.add(node)
        elif kind == 11 and running:
            node = _choice(chooser, running)
            safe = " safe" if stack == "srp" and chooser.randint(0, 1) else ""
            if chooser.randint(0, 1):
                lines.append(f"send {node} {chooser.randint(1, 50)}/s{safe}")
            else:
                lines.append(f"send {node} {chooser.randint(1, 20)}{safe}")
        elif kind == 12 and running:
            node = _choice(chooser, running)
            lines.append(f"send {node} stop")
        else:
            lines.append(f"run {_ms(chooser, 1, 4 * token)}")
    # heal everything, stop traffic, and the survivors must form one ring again
    lines += [
        "heal",
        "latency * 200us±40us",
        "loss 0%",
        "dup 0%",
        "reorder 0% 0ms",
        "mtu 0",
        "send * stop",
    ]
    budget = max(10, (4 * token * 2 + 2000 * nodes) // 1000)
    if qdevice:
        # votequorum's sync waits up to the device's sync_timeout (30 s) for its poll,
        # and corosync-qdevice does not poll while qnetd cannot answer a membership
        budget += QDEVICE_SYNC_TIMEOUT_S
    lines.append(f"expect members {_ids(sorted(up))} within {budget}s")
    return "\n".join(lines) + "\n"
