"""Review parsing on adversarial text: seconds to parse ~10 MB of each shape with ``parse_review``.

    python benchmarks/review_parsing.py              # 10 MB per shape, prints a table
    python benchmarks/review_parsing.py --mb 1

The reward path parses every reviewer output with no length limit, so one runaway generation
must not stall a batch. Each shape below targets a pattern whose naive regex backtracks
quadratically (a header line followed by a long run of spaces took 42 s at 32K characters before
the parsers were made linear). A linear parser takes about the same time per MB on every shape.

``TEST_BOUND_S`` is the bound ``tests/reviewer/test_format.py`` allows for parsing ``TEST_MB`` MB
of each shape: about 14x the slowest shape measured here on a 2-core CPU (see README), generous
enough for a loaded test machine while a quadratic parser would still need hours.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

TEST_MB = 10
TEST_BOUND_S = 60.0  # per shape, for TEST_MB MB; measured worst case in README


def _fill(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


SHAPES: dict[str, Callable[[int], str]] = {
    # a header line, then one long run of spaces that does not end the line
    "header + spaces": lambda n: "## Rating" + " " * n + "x",
    # many header lines, each padded with spaces before a stray character
    "padded header lines": lambda n: _fill("## Summary" + " " * 2000 + "x\n", n),
    # a bold header that never closes (the bold path runs when no # field header exists)
    "unclosed bold": lambda n: "**Rating" + "a" * n,
    # a separator-like line of stars followed by spaces and text
    "stars + spaces": lambda n: "*" * 10 + " " * n + "x",
    # DeepReviewer block starts with spaces and no brace, then lines of spaces in a block
    "boxed + spaces": lambda n: (
        _fill("\\boxed_review" + " " * 2000 + "\n", n // 2)
        + "\\boxed_review{\n"
        + _fill(" " * 2000 + "x\n", n // 2)
    ),
    # a score of ten million digits running into a letter
    "long number": lambda n: "## Rating\n\n" + "1" * n + "x",
    # a rating block repeated (a runaway generation): capped at MAX_REVIEWS reviews
    "repeated rating block": lambda n: _fill("## Rating\n\n6\n\n", n),
}


def adversarial_texts(mb: float = TEST_MB) -> dict[str, str]:
    size = int(mb * 1_000_000)
    return {name: make(size) for name, make in SHAPES.items()}


def time_parse(text: str, truncated: bool = False) -> tuple[float, object]:
    from cycle.reviewer.format import parse_review

    start = time.perf_counter()
    parsed = parse_review(text, truncated)
    return time.perf_counter() - start, parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=TEST_MB, help="MB of text per shape")
    args = parser.parse_args()
    print(f"| shape ({args.mb:g} MB) | seconds | s/MB | reviews | problems |")
    print("|---|---:|---:|---:|---:|")
    for name, text in adversarial_texts(args.mb).items():
        seconds, parsed = time_parse(text)
        mb = len(text) / 1e6
        print(
            f"| {name} | {seconds:.2f} | {seconds / mb:.3f} | "
            f"{len(parsed.review_set.reviews)} | {len(parsed.problems)} |"
        )


if __name__ == "__main__":
    main()
