"""The README, followed as written: its walkthroughs and its simulator example.

The walkthroughs ("A three-node cluster by hand", "A quorum device with TLS, on one machine")
are read from README.md itself, so the README cannot drift from what the programs do: every
```` ```sh ```` block runs, in order, in one bash session (as a reader pastes them into one
terminal: background jobs, ``kill %N`` and the working directory carry over), started from
the clone with ``TMPDIR`` in the test's own directory (and, as an interactive shell does
before each prompt, with ``jobs`` run after each block, so that ended jobs leave the job
table). Each command must exit 0 (bash's
``ERR`` trap reports any that does not), and a block followed by a ```` ```text ```` block must
print that text. Only what varies from run to run is left out of the comparison: the
``Date:`` and ``Ring ID:`` values and trailing blanks. A block made only of status queries
is asked again, for up to :data:`SETTLE_S`, until it succeeds and shows the README's output:
on a loaded machine a daemon may take longer to start, and a ring to form, than the README's
``sleep``.

The session runs in a network namespace of its own, so that its loopback addresses and ports
(5405, 5403) are its own, and in a PID namespace: when the session ends, every process it
started ends with it. Needs root, ``unshare`` and ``ip``; skipped otherwise, with the reason.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulations.runner import run_scenario
from simulations.scenario import parse_scenario

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
WALKTHROUGHS = ("A three-node cluster by hand", "A quorum device with TLS, on one machine")
SETTLE_S = 30.0
"""How long a status query may take to show what the README shows."""
BLOCK_S = 60.0
"""Bound on one block (the README's own sleeps included)."""
STATUS_QUERY = re.compile(
    r"pycorosync-(quorumtool|cfgtool|qdevice-tool|qnetd-tool)"
    r"(\s+(--run-dir\s+\S+|-[slnv]|--json))*"
    r'(\s*\|\|\s*echo "exit status \$\?")?'
)
_VARYING = [
    (re.compile(r"^(Date:\s+).*$", re.M), r"\1<date>"),
    (re.compile(r"^(Ring ID:\s+)\S+$", re.M), r"\1<ring id>"),
]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One ```sh block and the output the README shows for it (None: none shown)."""

    section: str
    script: str
    expected: str | None

    @property
    def status_query(self) -> bool:
        lines = [line.strip() for line in self.script.splitlines() if line.strip()]
        return bool(lines) and all(STATUS_QUERY.fullmatch(line) for line in lines)


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def walkthrough_blocks(text: str) -> list[Block]:
    """The ```sh blocks of the walkthroughs, each with the ```text block right after it."""
    blocks: list[Block] = []
    for title in WALKTHROUGHS:
        body = section(text, title)
        fences = list(_FENCE.finditer(body))
        for i, fence in enumerate(fences):
            if fence.group(1) != "sh":
                continue
            expected = None
            if i + 1 < len(fences):
                following = fences[i + 1]
                between = body[fence.end() : following.start()]
                if following.group(1) == "text" and not between.strip():
                    expected = following.group(2)
            blocks.append(Block(title, fence.group(2), expected))
    return blocks


def normalized(output: str) -> str:
    for pattern, replacement in _VARYING:
        output = pattern.sub(replacement, output)
    return "\n".join(line.rstrip() for line in output.strip("\n").splitlines())


def test_the_readme_has_the_walkthroughs() -> None:
    blocks = walkthrough_blocks(README.read_text())
    assert {b.section for b in blocks} == set(WALKTHROUGHS)
    assert sum(b.expected is not None for b in blocks) >= 8
    assert any(b.status_query for b in blocks)
    # no command reaches outside the walkthrough's scratch directory but the clone's venv
    assert blocks[0].script.startswith('. .venv/bin/activate\ncd "$(mktemp -d)"')


def test_the_readme_simulator_example() -> None:
    body = section(README.read_text(), "The simulator")
    script = next(f.group(2) for f in _FENCE.finditer(body) if f.group(1) == "")
    result = run_scenario(parse_scenario(script, "README.md"), seed=1)
    failed = [f"line {e.line}: {e.text}: {e.detail}" for e in result.expectations if not e.ok]
    assert not failed and not result.violations, failed
    assert next(e.text for e in result.expectations).startswith("expect members 1..5")


# --------------------------------------------------------------------------- the session


def _problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private network and PID namespace"
    missing = [tool for tool in ("unshare", "ip", "bash") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}"
    if not (REPO / ".venv" / "bin" / "activate").exists():
        return "the walkthroughs start with '. .venv/bin/activate': no .venv in the clone"
    return None


class Session:
    """One bash in its own network and PID namespaces, fed blocks on stdin."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.count = 0
        env = {**os.environ, "TMPDIR": str(tmp)}
        env.pop("VIRTUAL_ENV", None)
        prologue = "ip link set lo up && exec bash --norc --noprofile"
        self.process = subprocess.Popen(
            ["unshare", "--net", "--pid", "--fork", "--kill-child", "bash", "-c", prologue],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=env,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._send("trap 'echo \"__failed__ $? $BASH_COMMAND\" >&2' ERR\n")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, script: str) -> tuple[str, str]:
        """Run ``script`` in the session; (stdout, stderr) of the block."""
        self.count += 1
        out, err = self.tmp / f"block{self.count}.out", self.tmp / f"block{self.count}.err"
        marker = f"__block_{self.count}_done__"
        # `jobs` as an interactive shell does before each prompt: it reports and forgets the
        # jobs that ended, so that job numbers (`kill %3`) are those a reader's terminal has
        self._send(f"{{\n{script}\n}} > {out} 2> {err}\njobs > /dev/null\necho {marker}\n")
        deadline = time.monotonic() + BLOCK_S
        seen: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"block did not finish in {BLOCK_S:g} s:\n{script}") from None
            if line is None:
                raise AssertionError(f"the shell ended during:\n{script}\n{''.join(seen)}")
            if line.strip() == marker:
                return out.read_text(), err.read_text()
            seen.append(line)

    def close(self) -> None:
        """Stop the jobs still running, end the shell; the PID namespace takes the rest."""
        try:
            if self.process.poll() is None:
                self._send("kill $(jobs -p) 2>/dev/null; wait; exit\n")
                self.process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.process.poll() is None:
                self.process.kill()  # unshare --kill-child: the namespace's init goes too
                self.process.wait(timeout=10)


@pytest.mark.sockets
@pytest.mark.timeout(300)
def test_the_readme_walkthroughs_run_as_written(tmp_path: Path) -> None:
    if (why := _problem()) is not None:
        pytest.skip(why)
    session = Session(tmp_path)
    try:
        for block in walkthrough_blocks(README.read_text()):
            deadline = time.monotonic() + SETTLE_S
            while True:
                out, err = session.run(block.script)
                failed = "__failed__" in err
                shown = block.expected is None or normalized(out) == normalized(block.expected)
                if not failed and shown:
                    break
                # a status query may also fail while a daemon started in the background is
                # still coming up (its socket not there yet): asked again as well
                if not block.status_query or time.monotonic() > deadline:
                    waited = f" (asked for {SETTLE_S:g} s)" if block.status_query else ""
                    assert not failed, f"{block.section}: a command failed{waited}:\n{err}"
                    assert normalized(out) == normalized(block.expected or ""), (
                        f"{block.section}: `{block.script}` printed something else{waited}"
                    )
                time.sleep(0.5)
    finally:
        session.close()
