"""SimPO + NLL training step: cycle.rlloop (chunked log-probs) vs trl's CPO trainer (loss_type="simpo").

    python benchmarks/simpo_vs_trl.py                       # completion lengths 512 and 2048
    python benchmarks/simpo_vs_trl.py --lengths 512,2048,8192 --steps 3

Both sides get the same random tiny Llama (32K vocabulary), the same random-token pair, the
same β/γ/λ. One *step* is forward + backward of one pair (no optimizer update, so every step
sees the same weights and the loss of both sides must agree).

- ours: ``cycle.rlloop.loss.simpo_nll_batch_loss`` (decoder once, ``lm_head`` + log-softmax in
  checkpointed chunks of completion tokens).
- trl: a real ``trl.experimental.cpo.CPOTrainer(loss_type="simpo", cpo_alpha=λ)`` whose
  ``get_batch_loss_metrics`` is called on the pre-tokenized batch. That is trl's own
  ``concatenated_inputs`` → ``concatenated_forward`` (full logits, ``get_batch_logps``,
  CrossEntropy NLL) → ``cpo_loss`` path; the HF ``Trainer`` loop (dataloader, optimizer,
  accelerate) is not run on either side.

Every (implementation, length) runs in a fresh subprocess. Reported memory:

- peak RSS: ``ru_maxrss`` after the steps minus the resident set just before the first step,
  i.e. the extra host memory the steps needed at their peak (activations, logits, gradients,
  allocator slack). Parameter gradients (~68 MiB here) are in it for both sides.
- saved: bytes of the tensors autograd keeps for the backward pass at the end of one forward
  (``saved_tensors_hooks``, parameters excluded, storages counted once).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

PROMPT_TOKENS = 64
SEED = 0


def build_model(args: argparse.Namespace, max_len: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 64,
        num_key_value_heads=args.hidden // 64,
        head_dim=64,
        max_position_embeddings=max_len,
        tie_word_embeddings=False,
        pad_token_id=0,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    model.config._attn_implementation = "sdpa"
    return model.train()


def build_pair(args: argparse.Namespace, length: int) -> dict[str, Any]:
    """Shared prompt; chosen completion of ``length`` tokens, rejected of 3/4 of it."""
    import torch

    gen = torch.Generator().manual_seed(SEED + length)
    prompt = torch.randint(1, args.vocab, (PROMPT_TOKENS,), generator=gen)
    chosen = torch.randint(1, args.vocab, (length,), generator=gen)
    rejected = torch.randint(1, args.vocab, (max(1, 3 * length // 4),), generator=gen)
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def ours_step_fn(args: argparse.Namespace, model: Any, pair: dict[str, Any]):
    import torch

    from cycle.rlloop.loss import SimPOConfig, simpo_nll_batch_loss

    cfg = SimPOConfig(beta=args.beta, gamma=args.gamma, lam=args.lam, chunk_size=args.chunk_size)
    seqs = [torch.cat([pair["prompt"], pair[side]]) for side in ("chosen", "rejected")]
    width = max(len(s) for s in seqs)
    batch = {
        k: torch.zeros(2, width, dtype=torch.long)
        for k in ("input_ids", "attention_mask", "completion_mask")
    }
    for i, s in enumerate(seqs):
        batch["input_ids"][i, : len(s)] = s
        batch["attention_mask"][i, : len(s)] = 1
        batch["completion_mask"][i, PROMPT_TOKENS : len(s)] = 1
    batch = {k: v.to(model.device) for k, v in batch.items()}

    def step():
        loss, _ = simpo_nll_batch_loss(model, batch, cfg)
        return loss

    return step


def trl_step_fn(args: argparse.Namespace, model: Any, pair: dict[str, Any]):
    import torch
    from datasets import Dataset
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    from cycle.core.models import build_tiny_tokenizer
    from cycle.core.schemas import TinyModelConfig

    tokenizer = build_tiny_tokenizer(
        TinyModelConfig(vocab_size=512)
    )  # only tokenizes the dummy row
    tokenizer.pad_token_id = 0
    out = tempfile.mkdtemp(prefix="cpo-bench-")
    config = CPOConfig(
        output_dir=out,
        loss_type="simpo",
        beta=args.beta,
        simpo_gamma=args.gamma,
        cpo_alpha=args.lam,
        max_length=PROMPT_TOKENS + len(pair["chosen"]) + 8,
        gradient_checkpointing=False,
        bf16=False,
        use_cpu=model.device.type == "cpu",
        report_to=[],
        disable_dropout=True,
    )
    dummy = Dataset.from_dict({"prompt": ["a"], "chosen": ["b"], "rejected": ["c"]})
    trainer = CPOTrainer(model=model, args=config, train_dataset=dummy, processing_class=tokenizer)
    batch = {}
    for side in ("chosen", "rejected"):
        ids = torch.cat([pair["prompt"], pair[side]]).unsqueeze(0)
        labels = ids.clone()
        labels[:, :PROMPT_TOKENS] = -100
        batch[f"{side}_input_ids"] = ids.to(model.device)
        batch[f"{side}_attention_mask"] = torch.ones_like(ids).to(model.device)
        batch[f"{side}_labels"] = labels.to(model.device)

    def step():
        loss, _ = trainer.get_batch_loss_metrics(model, batch)
        return loss

    return step


def saved_bytes(model: Any, forward) -> tuple[int, Any]:
    """Bytes autograd saves for backward during ``forward()`` (parameters excluded)."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward()
    return sum(storages.values()), loss


def current_rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    length = args.worker_length
    model = build_model(args, PROMPT_TOKENS + length + 16)
    pair = build_pair(args, length)
    step = (ours_step_fn if args.worker == "ours" else trl_step_fn)(args, model, pair)
    gc.collect()
    rss_before = current_rss_kib()
    saved, loss = saved_bytes(model, step)  # warm-up step, also measures saved activations
    first_loss = loss.item()
    loss.backward()
    model.zero_grad(set_to_none=True)
    del loss
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        loss.backward()
        times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
        del loss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tokens = 2 * PROMPT_TOKENS + len(pair["chosen"]) + len(pair["rejected"])
    step_s = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": args.worker,
                "length": length,
                "loss": first_loss,
                "step_s": step_s,
                "tokens_per_s": tokens / step_s,
                "peak_rss_mib": (peak - rss_before) / 1024,
                "saved_mib": saved / 2**20,
            }
        )
    )


def run_worker(args: argparse.Namespace, impl: str, length: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", impl, "--worker-length", str(length)]
    for key in (
        "steps",
        "threads",
        "vocab",
        "hidden",
        "layers",
        "beta",
        "gamma",
        "lam",
        "chunk_size",
    ):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        return {"impl": impl, "length": length, "error": f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| completion tokens | impl | loss | abs. diff vs trl | step (s) | tokens/s | peak RSS (MiB) | saved for backward (MiB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    trl_loss = {r["length"]: r.get("loss") for r in results if r["impl"] == "trl"}
    for r in results:
        if "error" in r:
            lines.append(f"| {r['length']} | {r['impl']} | {r['error']} | | | | | |")
            continue
        ref = trl_loss.get(r["length"])
        diff = f"{abs(r['loss'] - ref):.1e}" if ref is not None else "n/a"
        lines.append(
            f"| {r['length']} | {r['impl']} | {r['loss']:.6f} | {diff} | {r['step_s']:.2f} | "
            f"{r['tokens_per_s']:.0f} | {r['peak_rss_mib']:.0f} | {r['saved_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="512,2048", help="completion lengths, comma-separated")
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--beta", type=float, default=2.0)
    parser.add_argument("--gamma", type=float, default=0.5)
    parser.add_argument("--lam", type=float, default=0.05)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--impls", default="ours,trl")
    parser.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--worker-length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    results = [
        run_worker(args, impl, int(length))
        for length in args.lengths.split(",")
        for impl in args.impls.split(",")
    ]
    print(
        f"SimPO+NLL step (forward+backward, 1 pair, prompt {PROMPT_TOKENS} tokens, rejected = 3/4 "
        f"of chosen), Llama {args.layers} layers, hidden {args.hidden}, vocab {args.vocab}, fp32, "
        f"{args.threads} threads, beta={args.beta} gamma={args.gamma} lambda={args.lam}, "
        f"chunk {args.chunk_size}, median of {args.steps} steps\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
