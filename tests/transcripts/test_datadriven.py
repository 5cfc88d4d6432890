"""The datadriven reader and writer: blocks, arguments, doubled separators, round trips."""

from __future__ import annotations

import pytest

from tests.transcripts.datadriven import Arg, DataDrivenError, parse, render, run_file

TEXT = """\
# a comment
cmd a b=1 c=(x,y)
line one
----
out

# before the second
second
----
----
first

second paragraph
----
----

third
----
"""


def test_blocks_keep_their_comments_input_and_output() -> None:
    cases, trailer = parse(TEXT, "t.txt")
    assert [c.command for c in cases] == ["cmd", "second", "third"]
    first = cases[0]
    assert first.before == ["# a comment"]
    assert first.args == [Arg("a"), Arg("b", ("1",)), Arg("c", ("x", "y"))]
    assert first.positional() == ["a"] and first.get("b") == "1" and first.vals("c") == ("x", "y")
    assert first.input == "line one" and first.expected == "out"
    assert cases[1].expected == "first\n\nsecond paragraph"
    assert cases[2].line == 17 and cases[2].expected == ""
    assert trailer == []


def test_rendering_the_outputs_it_holds_gives_the_text_back() -> None:
    cases, trailer = parse(TEXT)
    assert render(((c, c.expected) for c in cases), trailer) == TEXT


def test_new_outputs_replace_the_old_ones_only() -> None:
    got = run_file("t.txt", TEXT, lambda case: case.command.upper())
    assert got.count("CMD") == 1 and "# before the second" in got and "line one" in got
    assert "second paragraph" not in got


def test_an_output_with_blank_lines_is_written_between_doubled_separators() -> None:
    cases, _ = parse("x\n----\nold\n")
    assert render([(cases[0], "a\n\nb")]) == "x\n----\n----\na\n\nb\n----\n----\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cmd\nno separator\n", "t.txt:1: cmd: no ---- line"),
        ("cmd\n----\n----\nnever closed\n", "t.txt:1: cmd: unterminated ----/----"),
        ("cmd a=(1,2\n----\n", "t.txt:1: cannot read the arguments"),
    ],
)
def test_malformed_files_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DataDrivenError, match=message.replace("(", r"\(")):
        parse(text, "t.txt")


def test_a_failing_command_names_its_block() -> None:
    def boom(case: object) -> str:
        raise KeyError("no such node")

    with pytest.raises(DataDrivenError, match=r"t.txt:3: cmd: KeyError"):
        run_file("t.txt", "# c\n\ncmd\n----\n", boom)
