"""Fast-DetectGPT detector throughput (scored tokens per second) on CPU, 2K and 16K-token texts.

    python benchmarks/detector_throughput.py                          # tiny + llama-100m, 2048 and 16384
    python benchmarks/detector_throughput.py --models tiny --lengths 2048,16384 --threads 2

Models are random (nothing is downloaded): ``tiny`` is ``conf/model/tiny.yaml``'s 2-layer Llama
(hidden 128); ``llama-100m`` is a locally built Llama config (hidden 768, 12 layers, 12 heads,
intermediate 2048, vocabulary 32,000: ~134M parameters, ~85M outside the embeddings). Texts are
random token ids (throughput does not depend on the text). White-box scoring, window 2048,
carried context 512 (a 16K text takes 11 forward windows), fp32 on CPU.

``reference`` rows time the reference implementation's recipe on the same model
(``baoguangsheng/fast-detect-gpt`` ``get_sampling_discrepancy_analytic``: one forward pass,
full ``[T, V]`` logits, uncentered variance, texts truncated at 2048 tokens), for texts of at
most 2048 tokens, where both compute the same criterion.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cycle.core.models import build_tiny_causal_lm, build_tiny_tokenizer
from cycle.core.schemas import TinyModelConfig
from cycle.integrity.detector import FastDetectGPT


def build(name: str) -> tuple[torch.nn.Module, object, int]:
    if name == "tiny":
        model, tok = build_tiny_causal_lm(TinyModelConfig())
        return model.eval(), tok, len(tok)
    if name == "llama-100m":
        from transformers import LlamaConfig, LlamaForCausalLM

        tok = build_tiny_tokenizer(TinyModelConfig())  # only BOS/pad ids are needed
        cfg = LlamaConfig(
            vocab_size=32000,
            hidden_size=768,
            intermediate_size=2048,
            num_hidden_layers=12,
            num_attention_heads=12,
            num_key_value_heads=12,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
        )
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).eval(), tok, 32000
    raise ValueError(name)


@torch.inference_mode()
def reference_criterion(model: torch.nn.Module, ids: list[int]) -> float:
    """The reference recipe: full logits in one pass, E[lp^2] - mu^2, first 2048 tokens."""
    x = torch.tensor([ids[:2048]])
    logits = model(input_ids=x).logits[:, :-1]
    labels = x[:, 1:]
    lprobs = torch.log_softmax(logits, dim=-1)
    probs = torch.softmax(logits, dim=-1)
    ll = lprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    mean = (probs * lprobs).sum(-1)
    var = (probs * lprobs.square()).sum(-1) - mean.square()
    return ((ll.sum(-1) - mean.sum(-1)) / var.sum(-1).sqrt()).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny,llama-100m")
    ap.add_argument("--lengths", default="2048,16384")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        model, tok, vocab = build(name)
        params = sum(p.numel() for p in model.parameters())
        det = FastDetectGPT(model, tok, window=args.window, context=args.context, batch_size=1)
        for n in map(int, args.lengths.split(",")):
            g = torch.Generator().manual_seed(n)
            ids = [det.bos_id, *torch.randint(0, vocab, (n,), generator=g).tolist()]
            runs = [("ours", lambda ids=ids, det=det: det.score_ids([ids])[0].criterion)]
            if n <= 2048:
                runs.append(
                    ("reference", lambda ids=ids, model=model: reference_criterion(model, ids))
                )
            for impl, fn in runs:
                fn()  # warm-up
                start = time.perf_counter()
                for _ in range(args.repeats):
                    crit = fn()
                seconds = (time.perf_counter() - start) / args.repeats
                row = {
                    "model": name,
                    "params_M": round(params / 1e6, 1),
                    "impl": impl,
                    "tokens": n,
                    "seconds": round(seconds, 3),
                    "tokens_per_s": round(n / seconds, 1),
                    "criterion": round(crit, 4),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        f"\n| model | params (M) | impl | tokens | s/text | tokens/s |  (CPU, {args.threads} threads)"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['params_M']} | {r['impl']} | {r['tokens']} | {r['seconds']} | {r['tokens_per_s']} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
