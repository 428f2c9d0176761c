"""HFGenerator on the tiny random model: shapes, seeds, stop strings, EOS, processors, log-probs."""

from __future__ import annotations

import re

import pytest
import torch

from cycle.core.generation import Completion, HFGenerator, build_generator
from cycle.core.schemas import BackendConfig, SamplingConfig

CHAT = [{"role": "user", "content": "Write the abstract of a paper about reviewers."}]
PROMPTS = ["The method", CHAT, "In this paper we study the reward model of"]


class ForceTokens:
    """Forces ``tokens[i]`` at generation step i, then ``tokens[-1]`` forever."""

    def __init__(self, tokens: list[int], prompt_len: int) -> None:
        self.tokens = tokens
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - self.prompt_len
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.tokens[min(step, len(self.tokens) - 1)]] = 0.0
        return forced


class BoostToken:
    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        scores[:, self.token] += 100.0
        return scores


@pytest.fixture(scope="module")
def generator(tiny_lm) -> HFGenerator:
    model, tokenizer = tiny_lm
    return HFGenerator(model, tokenizer, batch_size=2, progress=False)


def sampled(**kw) -> SamplingConfig:
    return SamplingConfig(
        **{"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 8, "seed": 0, **kw}
    )


def texts(groups: list[list[Completion]]) -> list[list[str]]:
    return [[c.text for c in g] for g in groups]


def test_n_completions_per_prompt_for_strings_and_chats(generator):
    out = generator.generate(PROMPTS, sampled(n=3))
    assert [len(g) for g in out] == [3, 3, 3]
    for i, group in enumerate(out):
        for c in group:
            assert c.prompt_index == i
            assert 1 <= len(c.token_ids) <= 8
            assert c.finish_reason in ("stop", "length")
            assert c.text == generator.tokenizer.decode(c.token_ids, skip_special_tokens=True)
    # n passed explicitly overrides sampling.n
    assert [len(g) for g in generator.generate(PROMPTS[:2], sampled(n=3), n=2)] == [2, 2]


def test_same_seed_same_samples_other_seed_different(generator):
    prompts = PROMPTS[:2]
    first = generator.generate(prompts, sampled(n=2, seed=7))
    again = generator.generate(prompts, sampled(n=2, seed=7))
    other = generator.generate(prompts, sampled(n=2, seed=8))
    assert texts(first) == texts(again)
    assert [[c.token_ids for c in g] for g in first] == [[c.token_ids for c in g] for g in again]
    assert texts(first) != texts(other)


def test_results_follow_prompt_order_whatever_the_batching(generator):
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=8)
    forward = generator.generate(PROMPTS, greedy)
    shuffled = generator.generate([PROMPTS[2], PROMPTS[0], PROMPTS[1]], greedy)
    assert [g[0].token_ids for g in forward] == [
        shuffled[1][0].token_ids,
        shuffled[2][0].token_ids,
        shuffled[0][0].token_ids,
    ]


def test_greedy_with_n_repeats_the_one_greedy_completion(generator):
    out = generator.generate(["The method"], SamplingConfig(temperature=0.0, max_new_tokens=8), n=3)
    assert len(out[0]) == 3
    assert len({tuple(c.token_ids) for c in out[0]}) == 1
    assert out[0][0] is not out[0][1]


def test_empty_prompt_is_named_in_the_error(generator):
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        generator.generate(["The method", ""], SamplingConfig(temperature=0.0, max_new_tokens=4))


def test_max_new_tokens_gives_length(generator):
    out = generator.generate(["The method"], SamplingConfig(temperature=0.0, max_new_tokens=5))
    c = out[0][0]
    assert len(c.token_ids) == 5
    assert c.finish_reason == "length"


def test_stop_string_cuts_text_and_stops(generator):
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=16)
    full = generator.generate(["The method"], greedy)[0][0].text
    match = re.compile(r"[A-Za-z]{3,}").search(full, 1)
    assert match is not None, full
    stop = match.group()
    expected = full[: full.index(stop)]

    c = generator.generate(
        ["The method"], SamplingConfig(temperature=0.0, max_new_tokens=16, stop=[stop])
    )[0][0]
    assert c.text == expected
    assert stop not in c.text
    assert c.finish_reason == "stop"
    # the token ids end with the token that completed the stop string
    decode = generator.tokenizer.decode
    assert stop in decode(c.token_ids, skip_special_tokens=True)
    assert stop not in decode(c.token_ids[:-1], skip_special_tokens=True)


def test_logits_processor_forces_a_token(tiny_lm):
    model, tokenizer = tiny_lm
    token = tokenizer.convert_tokens_to_ids("the")
    assert token != tokenizer.unk_token_id
    prompt_len = len(tokenizer("The method")["input_ids"])
    gen = HFGenerator(
        model, tokenizer, logits_processors=[ForceTokens([token], prompt_len)], progress=False
    )
    out = gen.generate(["The method"], sampled(n=2, max_new_tokens=6, logprobs=True))
    for c in out[0]:
        assert c.token_ids == [token] * 6
        assert c.text == "the" * 6
        assert c.logprobs == pytest.approx([0.0] * 6)


def test_eos_ends_the_completion(tiny_lm):
    model, tokenizer = tiny_lm
    token, eos = tokenizer.convert_tokens_to_ids("the"), tokenizer.eos_token_id
    prompt_len = len(tokenizer("The method")["input_ids"])
    gen = HFGenerator(
        model,
        tokenizer,
        logits_processors=[ForceTokens([token, token, eos], prompt_len)],
        progress=False,
    )
    c = gen.generate(["The method"], sampled(max_new_tokens=8))[0][0]
    assert c.token_ids == [token, token, eos]
    assert c.text == "thethe"
    assert c.finish_reason == "stop"


def test_min_new_tokens_holds_back_eos(tiny_lm):
    model, tokenizer = tiny_lm
    gen = HFGenerator(
        model, tokenizer, logits_processors=[BoostToken(tokenizer.eos_token_id)], progress=False
    )
    eager = gen.generate(["The method"], sampled(max_new_tokens=8))[0][0]
    held = gen.generate(["The method"], sampled(max_new_tokens=8, min_new_tokens=3))[0][0]
    assert eager.token_ids == [tokenizer.eos_token_id] and eager.text == ""
    assert len(held.token_ids) == 4 and held.token_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in held.token_ids[:3]


def test_logprobs_one_per_token_and_not_positive(generator):
    out = generator.generate(PROMPTS, sampled(n=2, logprobs=True, top_k=50))
    for group in out:
        for c in group:
            assert c.logprobs is not None
            assert len(c.logprobs) == len(c.token_ids)
            # a chosen token survived top-k/top-p, so its log-prob is finite
            assert all(float("-inf") < lp <= 0.0 for lp in c.logprobs)
    assert generator.generate(PROMPTS[:1], sampled())[0][0].logprobs is None


def test_greedy_logprobs_match_a_forward_pass(tiny_lm):
    model, tokenizer = tiny_lm
    gen = HFGenerator(model, tokenizer, progress=False)
    c = gen.generate(
        ["The method"], SamplingConfig(temperature=0.0, max_new_tokens=6, logprobs=True)
    )[0][0]
    prompt = tokenizer("The method")["input_ids"]
    ids = torch.tensor([prompt + c.token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
    expected = (
        torch.log_softmax(logits, -1).gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
    )
    assert c.logprobs == pytest.approx(expected.tolist(), abs=1e-4)


def test_build_generator_hf(tiny_model_cfg):
    gen = build_generator(BackendConfig(name="hf", batch_size=4), tiny_model_cfg, progress=False)
    assert isinstance(gen, HFGenerator) and gen.batch_size == 4
    assert len(gen.generate(["The method"], sampled(max_new_tokens=4, n=2))[0]) == 2
    with pytest.raises(ValueError, match="unknown generation backend"):
        build_generator(BackendConfig(name="tgi"), tiny_model_cfg)


def _static_vs_dynamic(model, tokenizer) -> tuple[list[list[Completion]], list[list[Completion]]]:
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=6, logprobs=True)
    dynamic = HFGenerator(model, tokenizer, batch_size=2, progress=False)
    static = HFGenerator(model, tokenizer, batch_size=2, progress=False, static_cache=True)
    return dynamic.generate(PROMPTS, greedy), static.generate(PROMPTS, greedy)


def test_static_cache_decodes_what_the_dynamic_cache_decodes(tiny_lm):
    """The static cache (prompts padded to a multiple of 256 tokens) changes no greedy token."""
    dynamic, static = _static_vs_dynamic(*tiny_lm)
    assert texts(static) == texts(dynamic)
    for d, s in zip(dynamic, static, strict=True):
        assert s[0].logprobs == pytest.approx(d[0].logprobs, abs=1e-4)


class _EosAt:
    """Forces EOS as the ``step``-th new token of every row."""

    def __init__(self, eos: int, step: int) -> None:
        self.eos, self.step, self.start = eos, step, None

    def __call__(self, input_ids, scores):
        self.start = self.start or input_ids.shape[1]
        if input_ids.shape[1] - self.start >= self.step - 1:
            scores = torch.full_like(scores, float("-inf"))
            scores[:, self.eos] = 0.0
        return scores


def _decode_steps_until_eos(model, tokenizer) -> int:
    """Decode steps a static-cache batch pays when every row ends at its 3rd token of 64."""
    from cycle.core.generation.base import GENERATION_STATS

    eos = tokenizer.eos_token_id
    gen = HFGenerator(
        model,
        tokenizer,
        batch_size=2,
        progress=False,
        static_cache=True,
        logits_processors=[_EosAt(eos, 3)],
    )
    before = GENERATION_STATS["decode_steps"]
    out = gen.generate(PROMPTS[:2], SamplingConfig(temperature=0.0, max_new_tokens=64))
    assert all(c[0].finish_reason == "stop" and len(c[0].token_ids) == 3 for c in out)
    return GENERATION_STATS["decode_steps"] - before


def test_static_cache_decoding_stops_when_every_row_has_ended(tiny_lm):
    """A static cache does not decode to max_new_tokens: generate stops at the last EOS."""
    assert _decode_steps_until_eos(*tiny_lm) == 3


def test_build_generator_compiles_only_on_a_gpu(tiny_model_cfg):
    backend = BackendConfig(name="hf", static_cache=True)
    gen = build_generator(backend, tiny_model_cfg, progress=False)
    assert gen.static_cache is torch.cuda.is_available()


@pytest.mark.gpu
def test_compiled_static_cache_on_cuda_matches_eager(tiny_lm):
    model, tokenizer = tiny_lm
    model = model.to("cuda")
    try:
        dynamic, static = _static_vs_dynamic(model, tokenizer)
        assert texts(static) == texts(dynamic)
        assert _decode_steps_until_eos(model, tokenizer) == 3  # compiled, it stops at EOS too
    finally:
        model.to("cpu")


def test_a_failing_compiled_decode_falls_back_to_the_dynamic_cache(tiny_lm, monkeypatch, caplog):
    model, tokenizer = tiny_lm
    real = model.generate

    def no_compiler(*args, generation_config, **kw):
        if generation_config.cache_implementation == "static":
            raise RuntimeError("InductorError: no C compiler")
        return real(*args, generation_config=generation_config, **kw)

    monkeypatch.setattr(model, "generate", no_compiler)
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=6)
    static = HFGenerator(model, tokenizer, batch_size=2, progress=False, static_cache=True)
    dynamic = HFGenerator(model, tokenizer, batch_size=2, progress=False)
    assert texts(static.generate(PROMPTS, greedy)) == texts(dynamic.generate(PROMPTS, greedy))
    assert static.static_cache is False and "no C compiler" in caplog.text
