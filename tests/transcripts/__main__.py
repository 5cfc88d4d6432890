"""``python -m tests.transcripts [--rewrite] [FILE ...]``: check (or rewrite) transcripts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.transcripts.runner import check, rewrite_requested, transcripts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.transcripts", description=__doc__)
    parser.add_argument("--rewrite", action="store_true", help="store the actual output")
    parser.add_argument("files", nargs="*", type=Path, help="transcripts (default: all)")
    args = parser.parse_args(argv)
    rewrite = args.rewrite or rewrite_requested()
    failed = 0
    for path in [p.resolve() for p in args.files] or transcripts():
        diff = check(path, rewrite)
        if diff:
            failed += 1
            sys.stdout.write(diff)
    total = len(args.files) or len(transcripts())
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
