"""The scenario language: one statement a line, ``#`` comments (its reference).

A scenario is a small text script in the spirit of etcd-raft's datadriven
tests. It is parsed and *validated as a whole* before anything runs: a syntax
error, an unknown node (node 9 of 5), or an action that cannot happen (crash
a node that is already down) raises :class:`ScenarioError`, whose ``str()`` is
``"<file>:<line>: <message>"``.

Statements (``NODES`` is ``3``, ``1,2,5``, ``1..4`` or ``*``; ``LINKS`` is
``A-B`` for both directions between node lists, ``A->B`` for one, or ``*``
(every pair of nodes); durations take ``us``, ``ms``, ``s`` or ``m``)::

    nodes 5 token=1000 [key=value...]     # the cluster; must come first
    seed 42                               # default seed (the command line wins)
    qnetd [algorithm=ffsplit] [key=value...]   # the quorum device (see below)
    partition {1,2}|{3,4,5}               # nodes left out form one more group
    oneway 3->1                           # cut one direction (accumulates)
    heal [LINKS]                          # undo partitions and cuts (all, or these)
      # these and latency/loss/dup/reorder/mtu take ring=N with rings=2 (default: every ring)
    latency [LINKS] 50ms±10ms [dist=normal|uniform|exponential|pareto]
    loss [LINKS] 10% [kind=token,mcast,...]
    dup [LINKS] 1% [kind=...]
    reorder [LINKS] 5% 900ms [kind=mcast]   # late copies that leave FIFO order
    mtu [LINKS] 1400                      # larger datagrams vanish
    pause NODES 2500ms                    # process stall (GC, VM)
    crash NODES | stop NODES              # SIGKILL | graceful leave
    start NODES | restart NODES [fresh]   # fresh: without the persisted ring id
      # pause, crash, stop, start and restart also take qnetd: crash qnetd, crash 1,qnetd
    clock NODE [jump=10s] [rate=1.001]    # the node's clock jumps ahead / drifts
    send NODES 200/s [size=100] [safe] [poisson]
    send NODES 500 [size=100] [safe]      # a burst, now
    send NODES stop
    run 30s
    expect [not] members 1,2,3 [on NODES] [within 5s | throughout 5s]
    expect [not] quorate NODES [within ... | throughout ...]
    expect [not] inquorate NODES [...]
    expect [not] state NODES operational|gather|commit|recovery|down [...]
    expect delivered NODES >= 100 [...]
    expect votes NODES == 3 [...]          # votequorum's total votes on each node
    expect [not] qdevice NODES connected|voting [...]   # the node's quorum device
    expect stat NAME >= 1 [on NODES] [...]   # summed over NODES (default: running nodes)
    write NODE PATH [SIZE]                # the replicated filesystem (simulations.cfsim)
    expect converged [NODES] [...]        # ... synced in one group, equal databases
    expect read-only NODES [...]          # ... refuses writes (not quorate)
    expect [not] file NODES PATH [...]    # ... holds the file
                                             # on qnetd: the arbiter's figures

``nodes`` options: the Totem timers and constants of corosync.conf (``token``,
``token_coefficient``, ``token_retransmit``, ``hold``, ``join``, ``consensus``,
``merge``, ``fail_recv_const``, ``seqno_unchanged_const``, ``miss_count_const``,
``window_size``, ``max_messages``, ``netmtu``, ``token_warning``, ``send_join``), the quorum
keys (``two_node``, ``wait_for_all``, ``last_man_standing``,
``last_man_standing_window``, ``auto_tie_breaker``, ``expected_votes``),
``start=no`` (no node starts by itself), ``stack=srp`` (bare Totem SRP nodes
instead of the daemon's full node stack: faster, SAFE delivery, no quorum),
``rings=2`` (passive redundant rings, each ring its own network),
``crypto=on`` (aes256/sha256 with a fixed simulation key) and ``transport=knet``
(corosync 3's default: the knet link layer, its heartbeat, link failover, PMTUd and
knet crypto, run by the same core as the daemon; ``links=N`` (1..8) is then the number
of knet links, each a network of its own that ``ring=N`` statements name).

The quorum device: ``qnetd`` configures ``quorum { device { model: net ... } }``
in every node's corosync.conf (so each node runs the qdevice-net client, as
the daemon does, from its start) and starts the qnetd arbiter, a host of its
own on the network, at that point of the scenario (``start=no``: later, with
``start qnetd``). One ``qnetd`` statement per scenario, after ``nodes``. Its
options are the ``quorum.device`` keys: ``algorithm=ffsplit|lms|2nodelms|test``
(``test`` ACKs every partition: a negative control the checker must catch),
``tie_breaker=lowest|highest|NODEID``, ``keep_active_partition=on|off``
(``net.keep_active_partition_tie_breaker``, default on), ``votes=N`` (default 1
for ffsplit, else votequorum's nodes - 1), ``timeout=10s``, ``sync_timeout=30s``,
``connect_timeout=8s``. A configuration corosync or corosync-qdevice refuses
(two_node with a device, ffsplit with 2 votes) is a scenario error. Clients
and qnetd talk plain TCP (TLS off) over simulated streams
(:mod:`simulations.streams`).

Network statements name the host ``qnetd`` like a node: ``latency 3-qnetd
50ms``, ``oneway qnetd->1,2``, ``partition {1,2,qnetd}|{3,4}``. ``*`` does not
include it, and a partition that does not name it leaves it reachable from
every group (a third site). The links to it are ring 0's.

Each statement keyword is registered once, in :mod:`simulations.language`, with its
dataclass (:mod:`simulations.statements`), its parser and its handler.
"""

from __future__ import annotations

from simulations.language import VERBS
from simulations.language.cluster import QUORUM_KEYS, TOTEM_KEYS
from simulations.language.syntax import (
    QNETD,
    ScenarioError,
    ScenarioParser,
    format_duration,
    parse_duration,
)
from simulations.statements import (
    ClockStmt,
    Crash,
    Expect,
    Heal,
    Latency,
    LinkFault,
    Nodes,
    Oneway,
    Partition,
    Pause,
    Qnetd,
    Restart,
    Run,
    Scenario,
    Seed,
    Send,
    Start,
    Statement,
    Stop,
)

__all__ = [
    "QNETD",
    "QUORUM_KEYS",
    "TOTEM_KEYS",
    "ClockStmt",
    "Crash",
    "Expect",
    "Heal",
    "Latency",
    "LinkFault",
    "Nodes",
    "Oneway",
    "Partition",
    "Pause",
    "Qnetd",
    "Restart",
    "Run",
    "Scenario",
    "ScenarioError",
    "Seed",
    "Send",
    "Start",
    "Statement",
    "Stop",
    "format_duration",
    "parse_duration",
    "parse_scenario",
]


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Parse and validate a scenario; raises :class:`ScenarioError`.

    Each line's first word picks its verb (:data:`simulations.language.VERBS`), which
    parses the rest against what the lines before it set up."""
    p = ScenarioParser(path, text)
    for number, raw in enumerate(text.splitlines(), start=1):
        p.line = number
        line_text = raw.split("#", 1)[0].strip()
        if not line_text:
            continue
        words = line_text.split()
        keyword, args = words[0], words[1:]
        verb = VERBS.get(keyword)
        if verb is None:
            raise p.fail(f"unknown statement {keyword!r}")
        if p.nodes is None and keyword not in ("nodes", "seed"):
            raise p.fail(f"{keyword!r} before 'nodes': a scenario starts with 'nodes N'")
        statement = verb.parse(p, line_text, args)
        if statement is not None:
            p.statements.append(statement)
            p.uses.add(keyword)
    if p.nodes is None:
        p.line = max(1, p.line)
        raise p.fail("no 'nodes' statement: a scenario starts with 'nodes N'")
    return Scenario(
        path,
        text,
        p.nodes,
        tuple(p.statements),
        p.seed,
        p.quorum_line,
        frozenset(p.uses),
        p.qnetd,
    )
