"""Human-written texts in the JSONL layout ``cycle detect`` reads (one bad row, one bad line)."""

from __future__ import annotations

import json

SENTENCES = [
    "We study sparse attention for long documents and show that routing reduces memory.",
    "The proposed estimator is unbiased and its variance shrinks with the number of samples.",
    "Experiments on three benchmarks confirm the gains, although the smallest model benefits least.",
    "The paper is clearly written, but the baselines are weak and the ablations are incomplete.",
    "I would like the authors to clarify how the hyperparameters were chosen for each dataset.",
    "Our analysis suggests that the improvement comes from better calibration rather than accuracy.",
]


def write_human_jsonl(path, n_per_format=6):
    rows = []
    for i in range(n_per_format):
        body = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4))
        rows.append({"id": f"p{i}", "format": "paper", "text": f"\\section{{Intro {i}}}\n{body}"})
        rows.append({"id": f"r{i}", "format": "review", "text": f"## Summary\n\n{body}"})
    rows.append({"id": "bad", "format": "poem", "text": "roses"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    return path
