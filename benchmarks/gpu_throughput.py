"""GPU throughput side by side on a SmolLM2-135M-shaped Llama: the project's paths vs plain ones.

    python benchmarks/gpu_throughput.py                        # one GPU (scripts/device_check.sh)
    python benchmarks/gpu_throughput.py --tiny                 # every section on CPU, seconds
                                                               # (also what it runs without a GPU)
    python benchmarks/gpu_throughput.py --out throughput.json --budget-s 70

Random weights (speed does not depend on them, and no model is converted or loaded), SDPA
attention, seed 0. Three sections of side-by-side comparisons, each written to ``--out`` as it
finishes (a run cut short keeps what it measured), the most valuable first: generation dynamic
vs static cache at batch 16 and 1, SFT at 2K tokens ours vs plain, SimPO vs TRL, then the rest.
``--budget-s`` counts from the first measurement; past it, only a section's first comparison
still starts (every section gets one), the rest are rows marked ``"skipped": "budget"``.

1. **SFT** tokens/s, MFU and peak memory at 2K tokens (batch 16) and 8K (batch 4), gradient
   checkpointing off/on, packed rows (documents concatenated, positions restarting) vs padded
   rows (one document per row): the project's path (``CausalLMModule`` under a Lightning
   ``Trainer`` built by ``build_trainer``, bf16-mixed, the project's collate and AdamW) against
   plain PyTorch + transformers on the same batches (autocast bf16, fused AdamW, the same
   gradient clipping); "reached" is ours / plain. Tokens are real (non-padding) tokens.
   MFU = tokens/s x FLOPs per token / ``PEAK_FLOPS``; FLOPs per token = 6 x the matmul
   parameters (lm_head included, the embedding lookup not) + 12 x layers x hidden x sequence
   (attention scores and values, PaLM's count); recomputation under checkpointing not counted.
2. **SimPO + NLL** step (forward + backward of one pair, 2048-token chosen completion) of
   ``cycle.rlloop`` vs trl's ``CPOTrainer(loss_type="simpo", cpo_alpha)`` on the same pair
   (``benchmarks/simpo_vs_trl.py``'s two step functions): tokens/s, peak memory.
3. **Generation** tokens/s through ``HFGenerator``: dynamic cache vs static cache compiled
   into CUDA graphs (``backend.static_cache``), batch 1 / 16 / 64, greedy, a fixed number of new
   tokens; the static cache's first call (compilation) is reported apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# H200 SXM, dense BF16 tensor-core peak (no sparsity), NVIDIA's data sheet: 989 TFLOP/s.
PEAK_FLOPS = 989e12
# SmolLM2-135M's shape (conf/model/smollm2_135m.yaml); --tiny: a 2-layer model of the same kind.
SMOL = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
)
TINY = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
)


@dataclass(frozen=True)
class Setting:
    seq: int
    batch: int
    checkpointing: bool
    packed: bool


def sft_settings(tiny: bool) -> list[Setting]:
    """GC off/on at both lengths (packed), packed vs padded at the short one (GC off)."""
    (short, short_batch), (long, long_batch) = (
        ((64, 4), (256, 1)) if tiny else ((2048, 16), (8192, 4))
    )
    return [
        Setting(short, short_batch, False, True),
        Setting(short, short_batch, False, False),
        Setting(short, short_batch, True, True),
        Setting(long, long_batch, False, True),
        Setting(long, long_batch, True, True),
    ]


def build_model(shape: dict[str, int], device: str) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**shape, tie_word_embeddings=True, pad_token_id=0)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config).to(device)


def flops_per_token(shape: dict[str, int], seq: int) -> float:
    h, layers, inter = shape["hidden_size"], shape["num_hidden_layers"], shape["intermediate_size"]
    kv = h * shape["num_key_value_heads"] // shape["num_attention_heads"]
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * inter
    matmul = layers * per_layer + h * shape["vocab_size"]
    return 6 * matmul + 12 * layers * h * seq


def pack_lengths(rng: random.Random, seq: int) -> list[int]:
    """Document lengths of seq/4..seq tokens that fill one row of exactly ``seq`` tokens (the
    last document takes what is left). Drawing documents until greedy packing happens to fill a
    row exactly almost never ends at 2K tokens: the first GPU run spent its whole budget there."""
    lengths, left = [], seq
    while left:
        n = rng.randint(seq // 4, seq)
        n = left if n > left - seq // 4 else n
        lengths.append(n)
        left -= n
    return lengths


def documents(setting: Setting, vocab: int, steps: int) -> list[dict[str, list[int]]]:
    """Rows for ``steps`` batches: packed rows of documents filling ``seq`` exactly, or one
    document of seq/4..seq tokens per row."""
    from cycle.core.training.sequences import pack_rows

    rng = random.Random(0)

    def doc(n: int) -> dict[str, list[int]]:
        ids = [rng.randrange(1, vocab) for _ in range(n)]
        return {"input_ids": ids, "labels": list(ids)}

    rows: list[dict[str, list[int]]] = []
    for _ in range(steps * setting.batch):
        if setting.packed:
            (row,) = pack_rows([doc(n) for n in pack_lengths(rng, setting.seq)], setting.seq)
        else:
            row = doc(rng.randint(setting.seq // 4, setting.seq))
        rows.append(row)
    return rows


def batches(rows: list[dict[str, list[int]]], size: int) -> list[dict[str, Any]]:
    from cycle.core.training.sequences import pad_batch

    return [pad_batch(rows[i : i + size], 0) for i in range(0, len(rows), size)]


def real_tokens(batch: dict[str, Any]) -> int:
    return int((batch["input_ids"] != 0).sum())


class Clock:
    """Wall time of steps ``warmup`` onwards, synchronizing the GPU at each mark."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.marks: list[float] = []

    def mark(self) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
        self.marks.append(time.perf_counter())


def _memory_start(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def plain_sft(model: Any, data: list[dict[str, Any]], device: str, warmup: int) -> float:
    """Seconds for the batches after ``warmup``: autocast bf16 (GPU), fused AdamW, clipping 1.0."""
    import torch

    cuda = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    model.train()
    clock = Clock(device)
    for i, batch in enumerate(data):
        if i == warmup:
            clock.mark()
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            loss = model(**batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    clock.mark()
    return clock.marks[-1] - clock.marks[0]


def project_sft(model: Any, data: list[dict[str, Any]], device: str, warmup: int) -> float:
    """The same batches through ``CausalLMModule`` and ``build_trainer`` (what ``fit_sft`` runs)."""
    import lightning as L

    from cycle.core.schemas import OptimConfig, TrainerConfig
    from cycle.core.training.lm_module import CausalLMModule
    from cycle.core.training.trainer import build_trainer

    clock = Clock(device)

    class Marks(L.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, idx: int) -> None:
            if idx == warmup:
                clock.mark()

        def on_train_end(self, trainer: Any, module: Any) -> None:
            clock.mark()

    cuda = device == "cuda"
    trainer_cfg = TrainerConfig(
        name="gpu" if cuda else "cpu",
        accelerator="gpu" if cuda else "cpu",
        precision="bf16-mixed" if cuda else "32-true",
        max_steps=len(data),
        enable_progress_bar=False,
    )
    trainer = build_trainer(trainer_cfg, callbacks=[Marks()])
    optim = OptimConfig(lr=1e-5, warmup_ratio=0.0, scheduler="constant")
    trainer.fit(CausalLMModule(model, optim), train_dataloaders=data_loader(data))
    return clock.marks[-1] - clock.marks[0]


def data_loader(data: list[dict[str, Any]]) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(data, batch_size=None, shuffle=False)


@dataclass
class Unit:
    """One side-by-side measurement: the baseline and ours on the same input, as two rows that
    ``measure`` adds to the report (``sides`` names them under ``field``, for skipped rows)."""

    section: str
    key: dict[str, Any]
    field: str
    sides: tuple[str, str]
    measure: Callable[[], None]


def sft_units(args: argparse.Namespace, shape: dict[str, int], report: Report) -> list[Unit]:
    def measure(setting: Setting) -> None:
        warmup, steps = 1, args.steps
        data = batches(documents(setting, shape["vocab_size"], warmup + steps), setting.batch)
        tokens = sum(real_tokens(b) for b in data[warmup:])
        for impl, fit in (("plain", plain_sft), ("ours", project_sft)):
            model = build_model(shape, args.device)
            if setting.checkpointing:
                model.gradient_checkpointing_enable({"use_reentrant": False})
            _memory_start(args.device)
            seconds = fit(model, data, args.device, warmup)
            rate = tokens / seconds
            row = {**asdict(setting), "impl": impl, "tokens_per_s": rate}
            mfu = rate * flops_per_token(shape, setting.seq) / PEAK_FLOPS
            row["mfu"] = mfu if args.device == "cuda" else None  # the peak is the H200's
            row["peak_gib"] = _peak_gib(args.device)
            report.add("sft", row)
            del model

    return [
        Unit("sft", asdict(s), "impl", ("plain", "ours"), functools.partial(measure, s))
        for s in sft_settings(args.tiny)
    ]


def simpo_units(args: argparse.Namespace, shape: dict[str, int], report: Report) -> list[Unit]:
    length = 64 if args.tiny else 2048

    def measure() -> None:
        import torch

        sys.path.insert(0, str(Path(__file__).parent))
        import simpo_vs_trl

        knobs = argparse.Namespace(
            vocab=shape["vocab_size"], beta=2.0, gamma=0.5, lam=0.05, chunk_size=1024
        )
        pair = simpo_vs_trl.build_pair(knobs, length)
        tokens = 2 * simpo_vs_trl.PROMPT_TOKENS + length + 3 * length // 4
        for impl, make in (("ours", simpo_vs_trl.ours_step_fn), ("trl", simpo_vs_trl.trl_step_fn)):
            model = build_model(shape, args.device).train()
            try:
                step = make(knobs, model, pair)
            except Exception as err:  # noqa: BLE001 - trl missing or incompatible: in the table
                report.add("simpo", {"impl": impl, "length": length, "error": repr(err)[:200]})
                continue
            _memory_start(args.device)
            times = []
            cuda = args.device == "cuda"
            for i in range(1 + args.steps):
                clock = Clock(args.device)
                clock.mark()
                with torch.autocast(args.device, dtype=torch.bfloat16, enabled=cuda):
                    loss = step()
                loss.backward()
                model.zero_grad(set_to_none=True)
                clock.mark()
                loss = loss.detach()
                if i:
                    times.append(clock.marks[1] - clock.marks[0])
            row = {"impl": impl, "length": length, "loss": loss.item()}
            row |= {
                "tokens_per_s": tokens / statistics.median(times),
                "peak_gib": _peak_gib(args.device),
            }
            report.add("simpo", row)
            del model, step

    return [Unit("simpo", {"length": length}, "impl", ("ours", "trl"), measure)]


def generation_units(args: argparse.Namespace, shape: dict[str, int], report: Report) -> list[Unit]:
    """Batch 16 first (a round's prompts in one call), then 1, then 64 (``--tiny``: 4, 1)."""

    @functools.cache
    def model_and_tokenizer() -> tuple[Any, Any]:
        import torch

        from cycle.core.models import build_tiny_tokenizer
        from cycle.core.schemas import TinyModelConfig

        model = build_model(shape, args.device).eval()
        if args.device == "cuda":
            model = model.to(torch.bfloat16)
        return model, build_tiny_tokenizer(TinyModelConfig(vocab_size=512))

    new = 8 if args.tiny else args.new_tokens

    def measure(batch: int) -> None:
        from cycle.core.generation import HFGenerator
        from cycle.core.schemas import SamplingConfig

        model, tokenizer = model_and_tokenizer()
        sampling = SamplingConfig(temperature=0.0, max_new_tokens=new, min_new_tokens=new)
        rng = random.Random(batch)
        words = ["review", "paper", "method", "result", "table", "score", "model", "data"]
        prompts = [" ".join(rng.choice(words) for _ in range(100)) for _ in range(batch)]
        for cache in ("dynamic", "static"):
            gen = HFGenerator(
                model, tokenizer, batch_size=batch, progress=False, static_cache=cache == "static"
            )
            start = time.perf_counter()
            gen.generate(prompts, sampling)  # warm-up (the static cache compiles here)
            first = time.perf_counter() - start
            _memory_start(args.device)
            start = time.perf_counter()
            out = gen.generate(prompts, sampling)
            seconds = time.perf_counter() - start
            produced = sum(len(c.token_ids) for group in out for c in group)
            row = {"batch": batch, "cache": cache, "new_tokens": new, "first_call_s": first}
            row |= {"tokens_per_s": produced / seconds, "step_ms": 1000 * seconds / new}
            report.add("generate", row)

    return [
        Unit(
            "generate", {"batch": b}, "cache", ("dynamic", "static"), functools.partial(measure, b)
        )
        for b in ((4, 1) if args.tiny else (16, 1, 64))
    ]


SECTIONS = {"generate": generation_units, "sft": sft_units, "simpo": simpo_units}


def plan(units: list[Unit]) -> list[Unit]:
    """The most valuable comparisons first: generation dynamic vs static at batch 16 and 1,
    SFT at 2K tokens ours vs plain, SimPO vs TRL; then the rest in section order."""
    by = {name: [u for u in units if u.section == name] for name in SECTIONS}
    head = by["generate"][:2] + by["sft"][:1] + by["simpo"][:1]
    return head + [u for u in units if u not in head]


def run_plan(units: list[Unit], report: Report) -> None:
    """Every unit in order; after ``--budget-s`` (counted from the first measurement) only the
    first unit of a section not measured yet starts, so each section has at least one row."""
    measured: set[str] = set()
    for unit in units:
        if report.out_of_time() and unit.section in measured:
            for side in unit.sides:
                report.add(unit.section, {**unit.key, unit.field: side, "skipped": "budget"})
            continue
        report.begin()
        unit.measure()
        measured.add(unit.section)


class Report:
    """Rows per section, written to ``out`` after each one; ``budget_s`` stops new measurements."""

    def __init__(self, out: Path | None, budget_s: float | None, meta: dict[str, Any]) -> None:
        self.out, self.budget_s = out, budget_s
        self.start: float | None = None
        self.data: dict[str, Any] = {"meta": meta, "sft": [], "simpo": [], "generate": []}

    def begin(self) -> None:
        """The budget counts from the first measurement (not imports or process start)."""
        if self.start is None:
            self.start = time.perf_counter()

    def out_of_time(self) -> bool:
        return (
            self.budget_s is not None
            and self.start is not None
            and time.perf_counter() - self.start > self.budget_s
        )

    def add(self, section: str, row: dict[str, Any]) -> None:
        self.data[section].append(row)
        print(section, json.dumps(row), flush=True)
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(self.data, indent=1) + "\n")

    def markdown(self) -> str:
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        lines = [
            f"GPU throughput: {self.data['meta']['device']}, PEAK_FLOPS {PEAK_FLOPS / 1e12:.0f} "
            "TFLOP/s (bf16 dense)",
            "",
            "| SFT seq x batch | GC | rows | impl | tokens/s | MFU | peak GiB | reached |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        sft = self.data["sft"]
        for row in sft:
            if "skipped" in row:
                continue
            key = {k: row[k] for k in ("seq", "batch", "checkpointing", "packed")}
            plain = next(
                (
                    r
                    for r in sft
                    if r["impl"] == "plain"
                    and "tokens_per_s" in r
                    and all(r[k] == v for k, v in key.items())
                ),
                None,
            )
            reached = (
                f"{row['tokens_per_s'] / plain['tokens_per_s']:.0%}"
                if plain and row["impl"] == "ours"
                else ""
            )
            lines.append(
                f"| {row['seq']} x {row['batch']} | {'on' if row['checkpointing'] else 'off'} | "
                f"{'packed' if row['packed'] else 'padded'} | {row['impl']} | "
                f"{row['tokens_per_s']:.0f} | {fmt(row['mfu'], '.1%')} | {fmt(row['peak_gib'], '.1f')} | {reached} |"
            )
        lines += [
            "",
            "| SimPO+NLL step | completion | tokens/s | peak GiB | loss |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in self.data["simpo"]:
            if "tokens_per_s" in row:
                lines.append(
                    f"| {row['impl']} | {row['length']} | {row['tokens_per_s']:.0f} | "
                    f"{fmt(row['peak_gib'], '.2f')} | {row['loss']:.4f} |"
                )
            else:
                lines.append(
                    f"| {row['impl']} | {row['length']} | {row.get('error') or row.get('skipped')} | | |"
                )
        lines += [
            "",
            "| generate | batch | tokens/s | ms/step | first call (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in self.data["generate"]:
            if "tokens_per_s" in row:
                lines.append(
                    f"| {row['cache']} | {row['batch']} | {row['tokens_per_s']:.0f} | "
                    f"{row['step_ms']:.1f} | {row['first_call_s']:.1f} |"
                )
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model on CPU, seconds")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--new-tokens", type=int, default=64, help="generated tokens per row")
    parser.add_argument("--out", type=Path, help="JSON of every measurement, written as it goes")
    parser.add_argument(
        "--budget-s",
        type=float,
        help="after this many seconds from the first measurement, measure only what a section "
        "still lacks (its first comparison)",
    )
    parser.add_argument("--sections", default="generate,sft,simpo")
    args = parser.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available():
        print("no GPU here: the --tiny run on CPU (its numbers say nothing about a GPU)")
        args.tiny = True
    args.device = "cpu" if args.tiny else "cuda"
    if args.tiny:
        torch.set_num_threads(1)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (--tiny)"
    meta = {"device": name, "torch": torch.__version__, "peak_flops": PEAK_FLOPS, "tiny": args.tiny}
    report = Report(args.out, args.budget_s, meta)
    shape = TINY if args.tiny else SMOL
    units = [u for name in args.sections.split(",") for u in SECTIONS[name](args, shape, report)]
    run_plan(plan(units), report)
    print(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
