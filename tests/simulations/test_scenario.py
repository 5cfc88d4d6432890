"""The scenario language: every statement, and every error naming its file and line."""

from __future__ import annotations

import re

import pytest

from simulations.latency import Delay, Distribution
from simulations.network import KINDS
from simulations.scenario import (
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
    Restart,
    Run,
    ScenarioError,
    Send,
    Start,
    Stop,
    format_duration,
    parse_duration,
    parse_scenario,
)

ISSUE_EXAMPLE = """\
# the statements the scenario language defines
nodes 5 token=1000
partition {1,2}|{3,4,5}
oneway 3->1
latency 2-3 50ms±10ms
loss 10%
pause 4 2500ms
crash 2
restart 2
send 1 200/s
run 30s
expect members 1,3,4,5 within 5s
expect quorate 3,4,5
"""


def one(text: str) -> object:
    scenario = parse_scenario("nodes 5\n" + text, "t.txt")
    assert len(scenario.statements) == 2
    return scenario.statements[1]


def test_issue_statements_parse() -> None:
    scenario = parse_scenario(ISSUE_EXAMPLE, "issue.txt")
    kinds = [type(s).__name__ for s in scenario.statements]
    assert kinds == [
        "Nodes",
        "Partition",
        "Oneway",
        "Latency",
        "LinkFault",
        "Pause",
        "Crash",
        "Restart",
        "Send",
        "Run",
        "Expect",
        "Expect",
    ]
    nodes = scenario.statements[0]
    assert nodes == Nodes(2, "nodes 5 token=1000", 5, (("token", 1000),), (), True, "full")
    assert scenario.node_ids == (1, 2, 3, 4, 5)
    assert scenario.statements[1] == Partition(3, "partition {1,2}|{3,4,5}", ((1, 2), (3, 4, 5)))
    assert scenario.statements[2] == Oneway(4, "oneway 3->1", ((3, 1),))
    assert scenario.statements[3] == Latency(
        5, "latency 2-3 50ms±10ms", ((2, 3), (3, 2)), Delay(0.05, 0.01)
    )
    loss = scenario.statements[4]
    assert isinstance(loss, LinkFault) and loss.fault == "loss" and loss.value == 0.1
    assert len(loss.pairs) == 20 and loss.kinds is None
    assert scenario.statements[5] == Pause(7, "pause 4 2500ms", (4,), 2.5)
    assert scenario.statements[6] == Crash(8, "crash 2", (2,))
    assert scenario.statements[7] == Restart(9, "restart 2", (2,), True)
    assert scenario.statements[8] == Send(10, "send 1 200/s", (1,), rate=200.0)
    assert scenario.statements[9] == Run(11, "run 30s", 30.0)
    assert scenario.statements[10] == Expect(
        12, "expect members 1,3,4,5 within 5s", "members", (1, 3, 4, 5), within=5.0
    )
    assert scenario.statements[11] == Expect(13, "expect quorate 3,4,5", "quorate", (3, 4, 5))
    assert scenario.quorum_line == 13
    assert scenario.simulated_length == 35.0
    assert scenario.uses >= {"partition", "oneway", "pause", "expect"}


def test_more_statements() -> None:
    assert one("heal") == Heal(2, "heal", None)
    assert one("heal 3->1") == Heal(2, "heal 3->1", ((3, 1),))
    assert one("stop 1,2") == Stop(2, "stop 1,2", (1, 2))
    restart = parse_scenario("nodes 3\ncrash 1,2\nrestart 1..2 fresh\n").statements[2]
    assert restart == Restart(3, "restart 1..2 fresh", (1, 2), keep_state=False)
    assert one("clock 3 jump=10s rate=1.01") == ClockStmt(
        2, "clock 3 jump=10s rate=1.01", 3, 10.0, 1.01
    )
    latency = one("latency 50us+-5us dist=pareto")
    assert isinstance(latency, Latency)
    assert latency.delay == Delay(50e-6, 5e-6, Distribution.PARETO)
    assert len(latency.pairs) == 20
    reorder = one("reorder 1->2,3 5% 900ms kind=mcast,token")
    assert reorder == LinkFault(
        2,
        "reorder 1->2,3 5% 900ms kind=mcast,token",
        "reorder",
        ((1, 2), (1, 3)),
        0.05,
        0.9,
        (KINDS.index("token"), KINDS.index("mcast")),
    )
    mtu = one("mtu 3-* 1400")
    assert isinstance(mtu, LinkFault) and mtu.value == 1400.0 and len(mtu.pairs) == 8
    dup = one("dup 0.5%")
    assert isinstance(dup, LinkFault) and dup.value == 0.005


def test_send_forms() -> None:
    scenario = parse_scenario(
        "nodes 3 stack=srp\nsend * 5/s size=300 safe poisson\nsend 2 40\nsend 1 stop\n"
    )
    rate, burst, stop = scenario.statements[1:]
    assert rate == Send(2, "send * 5/s size=300 safe poisson", (1, 2, 3), 5.0, 0, 300, True, True)
    assert burst == Send(3, "send 2 40", (2,), None, 40)
    assert stop == Send(4, "send 1 stop", (1,), 0.0)


def test_expect_forms() -> None:
    text = (
        "nodes 4\n"
        "expect not members 1,2 on 1 throughout 2s\n"
        "expect state 1..3 gather within 1s\n"
        "expect delivered * >= 10\n"
        "expect stat failed_to_receive > 0 on 2,3 within 10s\n"
        "expect inquorate 4\n"
    )
    s = parse_scenario(text).statements
    assert s[1] == Expect(2, s[1].text, "members", (1, 2), negate=True, on=(1,), throughout=2.0)
    assert s[2] == Expect(3, s[2].text, "state", (1, 2, 3), within=1.0, state="gather")
    assert s[3] == Expect(4, s[3].text, "delivered", (1, 2, 3, 4), op=">=", value=10.0)
    assert s[4] == Expect(
        5,
        s[4].text,
        "stat",
        (2, 3),
        on=(2, 3),
        within=10.0,
        stat="failed_to_receive",
        op=">",
        value=0.0,
    )
    assert s[5].what == "inquorate"


def test_redundant_rings_and_crypto() -> None:
    text = (
        "nodes 3 rings=2 crypto=on\n"
        "partition {1}|{2,3} ring=1\n"
        "loss 1-2 5% kind=token ring=0\n"
        "mtu 1400 ring=1\n"
        "heal ring=1\n"
        "oneway 3->1 ring=0\n"
        "latency 2ms ring=1\n"
    )
    s = parse_scenario(text).statements
    assert s[0].rings == 2 and s[0].crypto  # type: ignore[attr-defined]
    assert s[1] == Partition(2, s[1].text, ((1,), (2, 3)), (1,))
    assert isinstance(s[2], LinkFault) and s[2].rings == (0,) and s[2].kinds == (0,)
    assert isinstance(s[3], LinkFault) and s[3].rings == (1,) and s[3].value == 1400.0
    assert s[4] == Heal(5, "heal ring=1", None, (1,))
    assert isinstance(s[5], Oneway) and s[5].rings == (0,)
    assert isinstance(s[6], Latency) and s[6].rings == (1,)
    for bad, message in [
        ("nodes 3\nloss 5% ring=1\n", "t.txt:2: ring 1 does not exist: the cluster has 1 ring(s)"),
        ("nodes 3 stack=srp rings=2\n", "t.txt:1: redundant rings and crypto belong to"),
        ("nodes 3 rings=3\n", "t.txt:1: rings must be 1 or 2"),
        ("nodes 3 rings=2\nheal ring=1 ring=0\n", "t.txt:2: option 'ring' given twice"),
    ]:
        with pytest.raises(ScenarioError, match=re.escape(message)):
            parse_scenario(bad, "t.txt")


def test_start_no_and_start() -> None:
    s = parse_scenario("nodes 3 start=no\nstart 1,2\nstart 3\ncrash 3\n")
    assert not s.nodes.autostart
    assert s.statements[1] == Start(2, "start 1,2", (1, 2))


def test_comments_and_blank_lines() -> None:
    s = parse_scenario("# hello\n\nnodes 2   # two\n   \nrun 1s # run\n")
    assert [type(x).__name__ for x in s.statements] == ["Nodes", "Run"]
    assert s.statements[1].line == 5


def test_seed_statement() -> None:
    assert parse_scenario("seed 42\nnodes 2\n").seed == 42


def test_durations() -> None:
    assert parse_duration("2500ms") == 2.5
    assert parse_duration("200us") == pytest.approx(0.0002)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("2m") == 120.0
    assert format_duration(2.5) == "2500ms"
    assert format_duration(30) == "30s"
    assert format_duration(0.0002) == "200us"
    with pytest.raises(ValueError):
        parse_duration("5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nodes 5\ncrash 9\n", "t.txt:2: node 9 is not in the cluster (nodes 1-5)"),
        ("nodes 5\npartition {1,2}|{3,9}\n", "t.txt:2: node 9 is not in the cluster (nodes 1-5)"),
        (
            "nodes 5\nexpect members 1,6 within 2s\n",
            "t.txt:2: node 6 is not in the cluster (nodes 1-5)",
        ),
        ("run 1s\n", "t.txt:1: 'run' before 'nodes': a scenario starts with 'nodes N'"),
        ("# empty\n", "t.txt:1: no 'nodes' statement: a scenario starts with 'nodes N'"),
        (
            "nodes 2\nnodes 3\n",
            "t.txt:2: second 'nodes' statement (the cluster was defined on line 1)",
        ),
        ("nodes 0\n", "t.txt:1: the node count must be 1..384, not 0"),
        ("nodes 3 tokn=5\n", "t.txt:1: unknown option 'tokn' for nodes"),
        ("nodes 3\nfly 1\n", "t.txt:2: unknown statement 'fly'"),
        ("nodes 3\nrun 5\n", "t.txt:2: bad duration '5' (write e.g. 250ms, 1.5s, 200us)"),
        ("nodes 3\nloss 120%\n", "t.txt:2: a percentage is at most 100%, not 120%"),
        ("nodes 3\nloss 10\n", "t.txt:2: expected a percentage like 10%, not '10'"),
        ("nodes 3\nloss 10% kind=bogus\n", "t.txt:2: unknown message kind 'bogus'"),
        ("nodes 3\ncrash 2\ncrash 2\n", "t.txt:3: cannot crash node 2: it is crashed on line 2"),
        (
            "nodes 3\nrestart 2\n",
            "t.txt:2: cannot restart node 2: it is running (started on line 1)",
        ),
        ("nodes 3\nstop 1\npause 1 1s\n", "t.txt:3: cannot pause node 1: it is stopped on line 2"),
        ("nodes 3 start=no\nsend 1 10\n", "t.txt:2: cannot send from node 1: it is not started"),
        ("nodes 3\npartition {1,2}|{2,3}\n", "t.txt:2: node 2 is in two partition groups"),
        ("nodes 3\npartition {1,2,3}\n", "t.txt:2: a partition needs at least two groups"),
        ("nodes 3\npartition 1,2|3\n", "t.txt:2: bad partition group '1,2'"),
        ("nodes 3\noneway 1-2\n", "t.txt:2: 'oneway' takes one direction: oneway 3->1"),
        ("nodes 3\nlatency 1-1 5ms\n", "t.txt:2: '1-1' names no link between two different nodes"),
        ("nodes 3\nlatency 5ms dist=weird\n", "t.txt:2: unknown distribution 'weird'"),
        ("nodes 3\nmtu 20\n", "t.txt:2: an MTU below 68 bytes is not IPv4"),
        (
            "nodes 3\nexpect members 1,2 within 1s throughout 2s\n",
            "t.txt:2: use 'within' or 'throughout', not both",
        ),
        ("nodes 3\nexpect frobbed 1\n", "t.txt:2: unknown expectation 'frobbed'"),
        ("nodes 3\nexpect stat x ~ 1\n", "t.txt:2: unknown comparison '~'"),
        ("nodes 3\nexpect state 1 sleeping\n", "t.txt:2: 'expect state' takes nodes and one of"),
        ("nodes 3 stack=srp\nexpect quorate 1\n", "t.txt:2: 'expect quorate' needs votequorum"),
        ("nodes 3 stack=srp two_node=1\n", "t.txt:1: quorum option 'two_node' needs votequorum"),
        ("nodes 3\nsend 1 10/s safe\n", "t.txt:2: SAFE delivery is a Totem SRP guarantee"),
        ("nodes 3\nsend 1 10 poisson\n", "t.txt:2: 'poisson' applies to a rate"),
        ("nodes 3\nclock 1 rate=5\n", "t.txt:2: a clock rate must be within 0.5..2"),
        ("nodes 3\nsend 1,1 5/s\n", "t.txt:2: node listed twice in '1,1'"),
        ("nodes 3\nrestart 1 now\n", "t.txt:2: 'restart' takes a node list and optionally 'fresh'"),
        ("nodes 3\nseed x\n", "t.txt:2: the seed must be a whole number, not 'x'"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "t.txt")
    assert str(caught.value).startswith(message)
    assert str(caught.value).startswith(f"t.txt:{caught.value.line}: ")


def test_error_attributes() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("nodes 5\n\n\ncrash 9\n", "lib/x.txt")
    err = caught.value
    assert (err.path, err.line) == ("lib/x.txt", 4)
    assert err.message == "node 9 is not in the cluster (nodes 1-5)"


def test_arbitrary_text_never_raises_anything_but_scenario_error() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    words = st.sampled_from(
        [
            "nodes",
            "5",
            "crash",
            "2",
            "partition",
            "{1,2}|{3}",
            "run",
            "1s",
            "expect",
            "members",
            "within",
            "loss",
            "10%",
            "->",
            "1-2",
            "*",
            "send",
            "200/s",
            "x=y",
            "#",
            "\n",
            " ",
        ]
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(words, max_size=30).map(" ".join) | st.text(max_size=200))
    def check(text: str) -> None:
        try:
            parse_scenario(text, "fuzz.txt")
        except ScenarioError as err:
            assert str(err).startswith("fuzz.txt:")

    check()


def test_every_statement_is_registered_once_with_its_parser_and_handler() -> None:
    import dataclasses

    import simulations.scenario
    import simulations.statements
    from simulations.cfsim import Write
    from simulations.language import CONDITIONS, HANDLERS, VERBS

    reference = simulations.scenario.__doc__ or ""
    for keyword, verb in VERBS.items():
        assert re.search(rf"^    (.* \| )?{re.escape(keyword)}\b", reference, re.M), keyword
        assert (
            dataclasses.is_dataclass(verb.statement) and verb.statement.__dataclass_params__.frozen
        )
    for what in CONDITIONS:
        assert f"expect {what}" in reference or f"expect [not] {what}" in reference, what
    made = {
        cls
        for cls in vars(simulations.statements).values()
        if isinstance(cls, type) and issubclass(cls, simulations.statements.Statement)
    }
    assert made - set(HANDLERS) == {simulations.statements.Statement}
    assert Write in HANDLERS
