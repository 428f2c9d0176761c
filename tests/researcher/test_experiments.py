"""Experiment runners and the two-turn ``Researcher`` loop (with a scripted generator)."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import psutil
import pytest

from cycle.core.generation.base import Completion
from cycle.core.generation.vllm_backend import sampling_params_kwargs
from cycle.core.schemas import SamplingConfig
from cycle.data.records import Reference
from cycle.researcher.experiments import CommandRunner, Limits, build_runner
from cycle.researcher.protocol import results_message
from cycle.researcher.report import references_cited
from cycle.researcher.researcher import RESULTS_PREFILL, Researcher, user_turn_prefix
from cycle.researcher.schemas import ExperimentRunnerConfig

SETUP = [{"name": "Main", "description": "Compare with \\textsc{Base}"}]


def _program(code: str) -> list[str]:
    return [sys.executable, "-c", code]


ECHO = "import json, sys; s = json.load(sys.stdin); print(json.dumps([{'name': x['name'], 'result': {'table': [['acc'], ['0.9']]}} for x in s]))"


def test_command_runner_passes_setup_and_reads_results() -> None:
    outcome = CommandRunner(_program(ECHO), timeout_s=30).run(SETUP)
    assert outcome.error is None
    assert outcome.results == [{"name": "Main", "result": {"table": [["acc"], ["0.9"]]}}]


def test_command_runner_timeout_is_an_error_not_a_crash() -> None:
    outcome = CommandRunner(_program("import time; time.sleep(30)"), timeout_s=0.5).run(SETUP)
    assert outcome.results is None
    assert "timed out after 0.5 s" in outcome.error


def test_command_runner_invalid_json_and_nonzero_exit() -> None:
    bad = CommandRunner(_program("print('not json {')"), timeout_s=30).run(SETUP)
    assert bad.results is None and "printed invalid JSON" in bad.error and "not json" in bad.error
    failed = CommandRunner(_program("import sys; sys.exit('boom')"), timeout_s=30).run(SETUP)
    assert (
        failed.results is None and "exited with status 1" in failed.error and "boom" in failed.error
    )


def test_build_runner_from_config() -> None:
    assert build_runner(ExperimentRunnerConfig(name="simulated")).simulated
    runner = build_runner(
        ExperimentRunnerConfig(name="command", command="python -c 'print(1)'", timeout_s=5)
    )
    assert isinstance(runner, CommandRunner) and runner.argv == ["python", "-c", "print(1)"]


SECRETS = ("WANDB_API_KEY", "HF_TOKEN", "OPENREVIEW_PASSWORD", "S2_API_KEY", "OPENAI_API_KEY")
REPORT = (
    "import json, os, sys; json.load(sys.stdin); open('made-here.txt', 'w').write('x');"
    "print(json.dumps({'cwd': os.getcwd(), 'env': sorted(os.environ), 'home': os.environ['HOME']}))"
)


def test_command_runs_in_its_scratch_dir_without_secrets(tmp_path, monkeypatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, "secret-value")
    monkeypatch.chdir(tmp_path)
    scratch_root = tmp_path / "scratch"
    runner = CommandRunner(_program(REPORT), timeout_s=30, scratch_root=str(scratch_root))
    outcome = runner.run(SETUP)
    assert outcome.error is None, outcome.error
    cwd = Path(outcome.results["cwd"])
    assert cwd.parent == scratch_root and outcome.results["home"] == str(cwd)
    assert not set(SECRETS) & set(outcome.results["env"]) and "PATH" in outcome.results["env"]
    assert not (tmp_path / "made-here.txt").exists() and not cwd.exists()  # scratch removed


SPAWN = (
    "import subprocess, sys, time; child = subprocess.Popen(['sleep', '120']);"
    "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(120)"
)


def test_timeout_kills_the_whole_process_group(tmp_path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    outcome = CommandRunner([*_program(SPAWN), str(pid_file)], timeout_s=2).run(SETUP)
    assert "timed out after 2 s" in outcome.error
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize(
    ("code", "limits", "error"),
    [
        ("print('x' * (4 << 20))", Limits(output_mb=1), "File too large"),  # Python ignores SIGXFSZ
        ("b = bytearray(1 << 30)", Limits(memory_mb=256), "MemoryError"),
        ("while True: pass", Limits(cpu_s=1), "SIGXCPU: over the CPU-time limit"),
    ],
)
def test_resource_limits_stop_the_command(code, limits, error) -> None:
    outcome = CommandRunner(_program(code), timeout_s=60, limits=limits).run(SETUP)
    assert outcome.results is None and error in outcome.error + outcome.stderr


def test_documented_container_command_composes() -> None:
    from cycle.core.config import load_stage_config

    header = (Path(__file__).parents[2] / "conf" / "experiment_runner" / "command.yaml").read_text()
    docker = next(line for line in header.splitlines() if "docker run" in line)
    overrides = shlex.split(docker.lstrip("# ").replace("$PWD", "/work"))[2:]
    cfg = load_stage_config("generate", overrides)
    runner = build_runner(cfg.experiment_runner)
    assert runner.argv[:3] == ["docker", "run", "--rm"] and "--network=none" in runner.argv
    assert runner.limits.memory_mb is None


FIRST = """## Motivation

m

## Main Idea

i

## Interestingness

6

## Feasibility

6

## Novelty

6

```latex
\\title{T}

\\begin{abstract}
A.
\\end{abstract}

\\section{Introduction}
x
```

## Experimental Setup

```json
[{"name": "Main", "description": "d"}]
```"""
SECOND = "```latex\n\\section{Experiments}\ny\n\n\\section{Conclusion}\nz\n```"


class ScriptedGenerator:
    """Answers by prompt kind: first turn, simulated results, second turn; records the prompts."""

    def __init__(self, tokenizer, first: list[str]) -> None:
        self.tokenizer = tokenizer
        self.first = list(first)
        self.calls: list[tuple[list, SamplingConfig, int]] = []

    def generate(self, prompts, sampling, n=None):
        self.calls.append((list(prompts), sampling, n))
        out = []
        for prompt in prompts:
            if isinstance(prompt, str):
                text = '[{"name": "Main", "result": {"table": [["acc"], ["1"]]}}]\n'
            elif len(prompt) == 2:
                out.append([Completion(self.first.pop(0), [], "stop") for _ in range(n)])
                continue
            else:
                text = SECOND
            out.append([Completion(text, [], "stop")])
        return out


REFS = [Reference(key="a", title="A", abstract="x", bibtex="@misc{a}")]


def test_simulated_researcher_writes_results_and_second_turn(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    gen = ScriptedGenerator(tokenizer, [FIRST, FIRST + "\n"])
    papers = Researcher(gen, SamplingConfig(), max_references=None).write(REFS, n=2)
    assert len(papers) == 2 and all(p.complete and p.simulated for p in papers)
    assert [h for h, _ in papers[0].sections] == ["Introduction", "Experiments", "Conclusion"]
    assert papers[0].experimental_results == [
        {"name": "Main", "result": {"table": [["acc"], ["1"]]}}
    ]
    # The results call continues the conversation inside a user turn, prefilled, stopping at the fence.
    results_prompts, sampling, _ = gen.calls[1]
    assert results_prompts[0].endswith("<|im_start|>user\n" + RESULTS_PREFILL)
    assert "```" in sampling.stop
    # The second turn sees the results as the user message.
    conversation = gen.calls[2][0][0]
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "user"]
    assert conversation[3]["content"].startswith(RESULTS_PREFILL)


def test_first_turns_that_do_not_parse_are_sampled_again_with_unused_seeds(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    good = FIRST.replace(
        "\\section{Introduction}\nx\n", "\\section{Introduction}\nx\n\\section{Method}\ny\n"
    )
    broken = "## Motivation\n\nm, and then nothing"
    gen = ScriptedGenerator(tokenizer, [broken, good, broken, good])
    papers = Researcher(gen, SamplingConfig(seed=7), outline_attempts=3).write(REFS, n=2)
    assert [p.outline_attempts for p in papers] == [3, 1]
    assert all(p.complete for p in papers)
    first_turn_calls = gen.calls[:3]  # the n=2 samples, then one retry per attempt
    # vLLM seeds the two first samples 7 and 8: a retry seeded 8 would repeat sample 1's text.
    assert [(len(c[0]), c[1].seed, c[2]) for c in first_turn_calls] == [
        (1, 7, 2),
        (1, 9, 1),
        (1, 11, 1),
    ]
    # The per-request seeds vLLM would get: no two requests share one.
    vllm_seeds = [
        sampling_params_kwargs(sampling, n, prompt_index=p)["seed"] + k
        for prompts, sampling, n in first_turn_calls
        for p in range(len(prompts))
        for k in range(n)
    ]
    assert sorted(vllm_seeds) == [7, 8, 9, 11]
    with pytest.raises(ValueError, match="outline_attempts"):
        Researcher(gen, SamplingConfig(), outline_attempts=0)


def test_papers_cite_against_the_references_their_prompt_showed(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    refs = [*REFS, Reference(key="b", title="B", abstract="y", bibtex="@misc{b}")]
    gen = ScriptedGenerator(tokenizer, [FIRST.replace("x\n", "x \\cite{a,b}\n")])
    (paper,) = Researcher(gen, SamplingConfig(), max_references=1).write(refs)
    prompt = gen.calls[0][0][0][1]["content"]
    assert "@misc{a}" in prompt and "@misc{b}" not in prompt
    assert [r.key for r in paper.references] == ["a"] and references_cited(paper) == 1


def test_user_turn_prefix_follows_the_template(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    messages = [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]
    prefix = user_turn_prefix(tokenizer, messages)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "user", "content": "R"}], tokenize=False
    )
    assert full.startswith(prefix) and full[len(prefix) :].startswith("R")


def test_command_researcher_marks_failed_papers_and_continues(tiny_lm, tmp_path) -> None:
    _, tokenizer = tiny_lm
    script = tmp_path / "exp.py"
    # Succeeds for the first paper, prints invalid JSON for the second (a state file counts calls).
    script.write_text(
        "import json, pathlib, sys\n"
        f"state = pathlib.Path({str(tmp_path / 'count')!r})\n"
        "k = int(state.read_text()) if state.exists() else 0\n"
        "state.write_text(str(k + 1))\n"
        "json.load(sys.stdin)\n"
        "print('[]' if k == 0 else 'oops')\n"
    )
    no_setup = FIRST.replace('[{"name": "Main", "description": "d"}]', "[{broken")
    gen = ScriptedGenerator(tokenizer, [FIRST, FIRST, no_setup])
    runner = CommandRunner([sys.executable, str(script)], timeout_s=30)
    papers = Researcher(gen, SamplingConfig(), runner).write(REFS, n=3)
    ok, bad, unset = papers
    assert (
        ok.experiment_error is None and ok.results_text == results_message([]) and not ok.simulated
    )
    assert ok.complete
    assert "printed invalid JSON" in bad.experiment_error and bad.second_text == ""
    assert unset.experiment_error.startswith("experiment not run")
    assert len(gen.calls[-1][0]) == 1  # only the paper with results got a second turn


# Hostile program output and exits: each is that paper's recorded error, never an exception.
@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("print('[' * 100000)", "printed invalid JSON"),  # RecursionError in the decoder
        ("print('9' * 5000)", "printed invalid JSON"),  # ValueError: over the int digit limit
        ("print('[' * 500 + ']' * 500)", "nested deeper than 32 levels"),  # deep for asdict()
        ("import os, signal; os.kill(os.getpid(), signal.SIGRTMIN + 5)", "SIGRTMIN+5"),
        ("import os; os.kill(os.getpid(), 64)", "SIGRTMAX"),
    ],
)
def test_hostile_output_and_exits_are_errors(code, error) -> None:
    outcome = CommandRunner(_program(code), timeout_s=30).run(SETUP)
    assert outcome.results is None and error in outcome.error


class RaisingRunner:
    """A runner whose own code fails on the second paper (a bug, or output nothing else survives)."""

    simulated = False

    def __init__(self) -> None:
        self.calls = 0

    def run(self, setup):
        self.calls += 1
        if self.calls == 2:
            raise RecursionError("maximum recursion depth exceeded")
        from cycle.researcher.experiments import ExperimentOutcome

        return ExperimentOutcome(results=[])


def test_one_papers_experiment_failure_is_that_papers_error(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    gen = ScriptedGenerator(tokenizer, [FIRST, FIRST, FIRST])
    papers = Researcher(gen, SamplingConfig(), RaisingRunner()).write(REFS, n=3)
    assert [p.experiment_error is None for p in papers] == [True, False, True]
    assert "RecursionError" in papers[1].experiment_error and papers[1].second_text == ""
    assert papers[0].complete and papers[2].complete


def _gone(pids: list[int]) -> list[int]:
    """The pids still alive (zombies included) a moment after the runner returned."""
    return [p for p in pids if psutil.pid_exists(p)]


# Daemons: `setsid` children, a double fork whose middle process exits, and a bounded fork bomb
# of setsid copies; the program then exits 0 (or is stopped by a limit).
DAEMONS = """
import os, subprocess, sys, time
pids = []
for _ in range(int(sys.argv[2])):
    pids.append(subprocess.Popen(['setsid', 'sleep', '120']).pid)
if os.fork() == 0:  # double fork: the grandchild is orphaned at once
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1] + '.orphan', 'w').write(str(os.getpid()))
        time.sleep(120)
    os._exit(0)
while not os.path.exists(sys.argv[1] + '.orphan'):
    time.sleep(0.01)
open(sys.argv[1], 'w').write(' '.join(map(str, pids)))
print('[]')
"""


def _daemon_pids(pid_file: Path) -> list[int]:
    pids = [int(p) for p in pid_file.read_text().split()]
    return [*pids, int(Path(f"{pid_file}.orphan").read_text())]


@pytest.mark.skipif(sys.platform != "linux", reason="process-tree containment is Linux-only")
def test_no_descendant_survives_a_normal_exit(tmp_path) -> None:
    pid_file = tmp_path / "daemons"
    outcome = CommandRunner([*_program(DAEMONS), str(pid_file), "20"], timeout_s=60).run(SETUP)
    assert outcome.error is None, outcome.error + outcome.stderr
    pids = _daemon_pids(pid_file)
    assert len(pids) == 21 and not _gone(pids)


# The program logs each copy's pid as it starts it: the file lists every process made.
BOMB = """
import os, subprocess, sys, time
log = open(sys.argv[1], 'a')
for _ in range(150):
    child = subprocess.Popen(['setsid', 'sleep', '120'])
    log.write(f'{child.pid}\\n'); log.flush()
time.sleep(120)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="process-tree containment is Linux-only")
def test_fork_bomb_of_setsid_copies_is_stopped_by_the_process_limit(tmp_path) -> None:
    pid_file = tmp_path / "bomb"
    runner = CommandRunner(
        [*_program(BOMB), str(pid_file)], timeout_s=60, limits=Limits(max_processes=30)
    )
    outcome = runner.run(SETUP)
    # As root the kernel ignores RLIMIT_NPROC and the runner's count stops it; as a user, fork fails.
    assert "process limit" in outcome.error or "Resource temporarily unavailable" in outcome.stderr
    pids = [int(p) for p in pid_file.read_text().split()]
    assert pids and not _gone(pids)


# Four children share the program's limits: each alone stays under them.
SPREAD = """
import subprocess, sys
work = {'cpu': 'while True: pass', 'memory': "b = b'x' * (200 << 20); import time; time.sleep(60)"}
kids = [subprocess.Popen([sys.executable, '-c', work[sys.argv[1]]]) for _ in range(4)]
for k in kids:
    k.wait()
print('[]')
"""


@pytest.mark.skipif(sys.platform != "linux", reason="process-tree containment is Linux-only")
@pytest.mark.parametrize(
    ("kind", "limits", "error"),
    [
        ("cpu", Limits(cpu_s=2), "over the CPU-time limit"),
        ("memory", Limits(memory_mb=500), "over the memory limit"),
    ],
)
def test_limits_hold_across_children(kind, limits, error) -> None:
    outcome = CommandRunner([*_program(SPREAD), kind], timeout_s=60, limits=limits).run(SETUP)
    assert outcome.results is None and error in outcome.error


# Run by a non-root runner (root reads any process's environ), the program prints its parent's
# environment (not JSON: the error quotes what it printed).
SNOOP = "cat /proc/$PPID/environ 2>&1 | tr '\\0' ' '"
PARENT = "import sys; from cycle.researcher.experiments import CommandRunner; print(CommandRunner(['sh', '-c', sys.argv[1]], timeout_s=30).run([]).error)"


@pytest.mark.skipif(sys.platform != "linux", reason="/proc is Linux's")
def test_the_program_cannot_read_the_runners_secrets(tmp_path) -> None:
    import os
    import subprocess

    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    argv = [*(drop if os.geteuid() == 0 else []), sys.executable, "-c", PARENT, SNOOP]
    env = {"HF_TOKEN": "hf_secret_canary", "PATH": os.environ["PATH"], "TMPDIR": "/tmp"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert "hf_secret_canary" not in done.stdout and "Permission denied" in done.stdout
