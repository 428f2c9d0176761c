"""The vLLM backend: pure mappings, RequestOutput conversion, the generator against a fake engine,
and a real engine run where vllm is installed."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

from cycle.core.generation import (
    VLLMGenerator,
    completion_from_output,
    completions_from_request_outputs,
    llm_kwargs,
    sampling_params_kwargs,
)
from cycle.core.schemas import BackendConfig, SamplingConfig


@dataclass
class FakeLogprob:
    logprob: float


@dataclass
class FakeCompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    logprobs: list[dict[int, FakeLogprob]] | None = None


@dataclass
class FakeRequestOutput:
    outputs: list[FakeCompletionOutput]


def test_sampling_params_kwargs_maps_every_field():
    sampling = SamplingConfig(
        n=1,
        temperature=0.7,
        top_p=0.9,
        top_k=40,
        max_new_tokens=128,
        min_new_tokens=4,
        repetition_penalty=1.1,
        stop=["\n\n", "</s>"],
        seed=5,
        logprobs=True,
    )
    assert sampling_params_kwargs(sampling, 4, prompt_index=3, extra_args={"key": 9}) == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "max_tokens": 128,
        "min_tokens": 4,
        "repetition_penalty": 1.1,
        "stop": ["\n\n", "</s>"],
        "seed": 5 + 3 * 4,
        "logprobs": 0,
        "extra_args": {"key": 9},
    }


def test_sampling_params_kwargs_defaults_and_greedy():
    kw = sampling_params_kwargs(SamplingConfig(n=3, temperature=1.0, top_k=0, seed=None))
    assert kw["n"] == 3 and kw["top_k"] == 0 and kw["seed"] is None
    assert kw["stop"] is None and kw["logprobs"] is None and "extra_args" not in kw
    assert sampling_params_kwargs(SamplingConfig(top_k=-1))["top_k"] == 0
    greedy = sampling_params_kwargs(SamplingConfig(temperature=0.0, top_p=0.5, top_k=10), n=4)
    # vLLM rejects greedy with n > 1: one request, copied by the generator
    assert (greedy["n"], greedy["temperature"], greedy["top_p"], greedy["top_k"]) == (
        1,
        0.0,
        1.0,
        0,
    )


def test_sampling_params_seeds_are_disjoint_across_prompts():
    sampling = SamplingConfig(temperature=1.0, seed=100)
    seeds = set()
    for i in range(5):
        first = sampling_params_kwargs(sampling, 3, prompt_index=i)["seed"]
        seeds |= {first + child for child in range(3)}  # vLLM seeds child j with seed + j
    assert seeds == set(range(100, 115))


def test_llm_kwargs_from_backend_config():
    cfg = BackendConfig(
        name="vllm",
        tensor_parallel_size=4,
        max_model_len=32768,
        gpu_memory_utilization=0.85,
        enable_prefix_caching=True,
        enable_lora=True,
        max_lora_rank=32,
        dtype="bfloat16",
        enforce_eager=True,
        extra={"swap_space": 8, "max_model_len": 16384},
    )
    assert llm_kwargs("/models/m", cfg, ["cycle.integrity.watermark:VLLMWatermark"]) == {
        "model": "/models/m",
        "tensor_parallel_size": 4,
        "gpu_memory_utilization": 0.85,
        "enable_prefix_caching": True,
        "dtype": "bfloat16",
        "enforce_eager": True,
        "trust_remote_code": False,
        "max_model_len": 16384,  # extra wins
        "enable_lora": True,
        "max_lora_rank": 32,
        "logits_processors": ["cycle.integrity.watermark:VLLMWatermark"],
        "swap_space": 8,
    }


def test_llm_kwargs_minimal():
    cfg = BackendConfig(name="vllm", extra={"seed": 3})
    kw = llm_kwargs("m", cfg)
    assert "max_model_len" not in kw and "enable_lora" not in kw and "logits_processors" not in kw
    assert kw["seed"] == 3 and type(kw["seed"]) is int
    assert llm_kwargs("m", cfg, enable_lora=True)["enable_lora"] is True


def test_llm_kwargs_rejects_per_request_callables():
    class Processor:
        def __call__(self, input_ids, scores):
            return scores

    assert llm_kwargs("m", BackendConfig(), [Processor])["logits_processors"] == [Processor]
    with pytest.raises(TypeError, match="engine-level"):
        llm_kwargs("m", BackendConfig(), [Processor()])


def test_completion_from_output_with_logprobs():
    out = FakeCompletionOutput(
        index=0,
        text="Hello",
        token_ids=[5, 7, 2],
        finish_reason="stop",
        logprobs=[
            {5: FakeLogprob(-0.5), 9: FakeLogprob(-1.0)},
            {7: FakeLogprob(-0.25)},
            {2: FakeLogprob(-2.0)},
        ],
    )
    c = completion_from_output(out, prompt_index=4)
    assert (c.text, c.token_ids, c.finish_reason, c.prompt_index) == ("Hello", [5, 7, 2], "stop", 4)
    assert c.logprobs == [-0.5, -0.25, -2.0]


def test_completion_from_output_reasons():
    length = completion_from_output(FakeCompletionOutput(0, "ab", (1, 2), "length"), 0)
    assert (
        length.finish_reason == "length" and length.logprobs is None and length.token_ids == [1, 2]
    )
    with pytest.raises(ValueError, match="abort"):
        completion_from_output(FakeCompletionOutput(0, "a", [1], "abort"), 0)


def test_completions_from_request_outputs_groups_and_orders():
    outputs = [
        FakeRequestOutput(
            [FakeCompletionOutput(1, "b", [2], "stop"), FakeCompletionOutput(0, "a", [1], "stop")]
        ),
        FakeRequestOutput([FakeCompletionOutput(0, "c", [3], "length")]),
    ]
    groups = completions_from_request_outputs(outputs)
    assert [[c.text for c in g] for g in groups] == [["a", "b"], ["c"]]
    assert [[c.prompt_index for c in g] for g in groups] == [[0, 0], [1]]


class FakeLLM:
    """Stands in for vllm.LLM: records what it was built and called with, echoes samples."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[tuple] = []

    def get_tokenizer(self):
        raise AssertionError("the generator was given a tokenizer")

    def generate(self, prompts, params, use_tqdm=True, lora_request=None):
        self.calls.append((prompts, params, lora_request))
        return [
            FakeRequestOutput(
                [FakeCompletionOutput(j, f"p{i}s{j}", [i, j], "length") for j in range(p["n"])]
            )
            for i, p in enumerate(params)
        ]


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kw: kw
    lora = types.ModuleType("vllm.lora.request")
    lora.LoRARequest = lambda name, int_id, path: ("lora", name, int_id, path)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    return vllm


def test_vllm_generator_against_fake_engine(fake_vllm, tiny_lm):
    _, tokenizer = tiny_lm
    gen = VLLMGenerator(
        "/models/m",
        BackendConfig(name="vllm"),
        lora_path="/adapters/a",
        logits_processors=["pkg.mod:Proc"],
        extra_args={"wm": 1},
        tokenizer=tokenizer,
        progress=False,
    )
    assert gen.llm.kwargs["enable_lora"] is True and gen.llm.kwargs["logits_processors"] == [
        "pkg.mod:Proc"
    ]
    chat = [{"role": "user", "content": "hi"}]
    out = gen.generate(["The method", chat], SamplingConfig(temperature=1.0, seed=10), n=2)
    prompts, params, lora = gen.llm.calls[0]
    assert prompts[0] == {"prompt_token_ids": tokenizer("The method")["input_ids"]}
    assert (
        prompts[1]["prompt_token_ids"]
        == tokenizer(
            tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True),
            add_special_tokens=False,
        )["input_ids"]
    )
    assert [p["seed"] for p in params] == [10, 12] and all(
        p["extra_args"] == {"wm": 1} for p in params
    )
    assert lora == ("lora", "adapter", 1, "/adapters/a")
    assert [[c.text for c in g] for g in out] == [["p0s0", "p0s1"], ["p1s0", "p1s1"]]

    greedy = gen.generate(["The method"], SamplingConfig(temperature=0.0), n=3)
    assert gen.llm.calls[1][1][0]["n"] == 1
    assert [c.text for c in greedy[0]] == ["p0s0"] * 3
    assert gen.generate([], SamplingConfig()) == []


def test_vllm_generator_real_engine(tiny_model_cfg):
    pytest.importorskip("vllm")
    from cycle.core.models import resolve_model_path

    gen = VLLMGenerator(
        resolve_model_path(tiny_model_cfg),
        BackendConfig(
            name="vllm", max_model_len=512, gpu_memory_utilization=0.3, enforce_eager=True
        ),
        progress=False,
    )
    out = gen.generate(
        ["The method", [{"role": "user", "content": "hi"}]],
        SamplingConfig(temperature=1.0, max_new_tokens=8, logprobs=True, seed=0),
        n=2,
    )
    assert [len(g) for g in out] == [2, 2]
    for i, group in enumerate(out):
        for c in group:
            assert c.prompt_index == i and 1 <= len(c.token_ids) <= 8
            assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids)
            assert all(lp <= 0.0 for lp in c.logprobs)
