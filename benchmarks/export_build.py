"""OpenReview-export build (``data=openreview_export``): time and peak memory, small vs large.

    python benchmarks/export_build.py                                  # synthetic, 1000 and 10000 papers
    python benchmarks/export_build.py --export-dir /data/neurips_2025 --sizes 1000,5540

Each size is one real ``cycle build_data data=openreview_export data.export_dir=<dir>
data.max_papers=<n>`` in a fresh process (abstract-only papers kept, lengths in words), so the
parse worker, the JSONL spool, the stratified split and the JSONL/parquet/``save_to_disk`` writes
are all measured. The smallest size is the baseline: a streaming build's peak memory must not grow
with the number of papers. Peak RSS is ``ru_maxrss`` of the rusage ``os.wait4`` returns for the
build process (its parse worker included); it counts the pages of the memory-mapped Arrow files
read back, i.e. file-backed page cache up to the size of the written dataset. Peak anonymous RSS
is the heap and other private memory (``RssAnon`` of ``/proc/<pid>/status``, summed over the
build process and its descendants, sampled every 0.2 s; Linux only): the part that would exhaust
RAM.

Without ``--export-dir`` an export in the PeerRead layout is generated: per paper 4 reviews
(rating 1-6, NeurIPS 2025 style, combined STRENGTHS AND WEAKNESSES), a meta review, every 20th
paper rejected, and for two papers in three a ~40 KB Markdown full text in ``parsed_pdfs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS = [
    "model",
    "data",
    "training",
    "results",
    "method",
    "learning",
    "network",
    "performance",
    "task",
    "approach",
    "experiments",
    "baseline",
    "loss",
    "accuracy",
    "graph",
    "sample",
    "distribution",
    "analysis",
    "theory",
    "bound",
]


def _prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def generate_export(out: Path, n: int, seed: int = 0) -> None:
    """``n`` synthetic papers in the PeerRead layout under ``out``."""
    (out / "reviews").mkdir(parents=True, exist_ok=True)
    (out / "parsed_pdfs").mkdir(exist_ok=True)
    for i in range(n):
        rng = random.Random(f"{seed}-{i}")
        pid = f"P{i:06d}"
        accepted = i % 20 != 0
        reviews = [
            {
                "IS_META_REVIEW": False,
                "comments": f"SUMMARY:\n{_prose(rng, 80)}\n\nSTRENGTHS AND WEAKNESSES:\n"
                f"Strengths:\n{_prose(rng, 120)}\n\nWeaknesses:\n{_prose(rng, 150)}\n\n"
                f"QUESTIONS:\n{_prose(rng, 60)}\n\nLIMITATIONS:\nyes",
                "TITLE": "Official Review",
                "RECOMMENDATION": rng.randint(2, 6) if accepted else rng.randint(1, 4),
                "REVIEWER_CONFIDENCE": rng.randint(1, 5),
                "CLARITY": rng.randint(1, 4),
                "IMPACT": rng.randint(1, 4),
                "ORIGINALITY": rng.randint(1, 4),
                "DATE": "2025-07-02",
            }
            for _ in range(4)
        ]
        decision = "Accept (poster)" if accepted else "Reject"
        reviews.append(
            {
                "IS_META_REVIEW": True,
                "comments": f"DECISION:\n{decision}\n\nCOMMENT:\n{_prose(rng, 60)}",
                "RECOMMENDATION": decision,
                "TITLE": "Decision",
                "DATE": "2025-09-17",
            }
        )
        record = {"title": f"Paper {i}", "abstract": _prose(rng, 150), "id": pid,
                  "authors": ["A. Author"], "accepted": accepted, "keywords": [],
                  "conference": "NeurIPS 2025", "reviews": reviews, "histories": []}  # fmt: skip
        (out / "reviews" / f"{pid}.json").write_text(json.dumps(record))
        if i % 3:
            body = "\n\n".join(
                f"## {k} Section {k}\n\n" + "\n\n".join(_prose(rng, 120) for _ in range(8))
                for k in range(1, 8)
            )
            (out / "parsed_pdfs" / f"{pid}.pdf.md").write_text(
                f"## Paper {i}\n\n## A. Author\n\nSome University\n\n## Abstract\n\n"
                f"{_prose(rng, 150)}\n\n{body}\n\n## References\n\n- [1] A book.\n"
            )


def _anon_kb(root: int) -> int:
    """``RssAnon`` summed over ``root`` and its descendants (0 off Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [c for c, p in parents.items() if p == pid and c not in tree]
        tree.update(children)
        frontier += children
    total = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("RssAnon:")), 0)  # fmt: skip
    return total


class _AnonPeak(threading.Thread):
    """The highest ``_anon_kb`` of a process tree while it runs."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak_kb = max(self.peak_kb, _anon_kb(self.pid))


def measure(export_dir: Path, n: int, runs_dir: Path) -> dict[str, float]:
    """One build of the first ``n`` papers in a fresh process: wall time, peak RSS, counts."""
    command = [
        str(Path(sys.executable).parent / "cycle"), "build_data", "data=openreview_export",
        f"data.export_dir={export_dir}", f"data.max_papers={n}",
        "data.openreview_export.require_full_text=false", "token_stats=false",
        f"paths.runs_dir={runs_dir}", f"run_name=bench-{n}", "resume=false",
    ]  # fmt: skip
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    anon = _AnonPeak(proc.pid)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    anon.done.set()
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"build failed: {stderr.decode(errors='replace')[-2000:]}")
    summary = json.loads((runs_dir / "build_data" / f"bench-{n}" / "summary.json").read_text())
    return {
        "papers": summary["review5k"]["papers"],
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "peak_anon_mb": anon.peak_kb / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export-dir", type=Path, help="a real export (default: generated)")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated paper counts")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="cycle-export-bench-") as tmp:
        export_dir = args.export_dir
        if export_dir is None:
            export_dir = Path(tmp) / "export"
            t0 = time.perf_counter()
            generate_export(export_dir, max(sizes))
            print(f"generated {max(sizes)} papers in {time.perf_counter() - t0:.0f} s", file=sys.stderr)  # fmt: skip
        rows = [(n, measure(export_dir, n, Path(tmp) / "runs")) for n in sizes]
    print("| papers read | rows built | rejected papers | wall s | papers/s | peak RSS MB "
          "| peak anon RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        print(
            f"| {n} | {r['papers']} | {n - r['papers']} | {r['wall_s']:.0f} "
            f"| {n / r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['peak_anon_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
