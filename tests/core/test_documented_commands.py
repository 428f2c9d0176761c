"""Every `cycle` command written in README.md, docs/*.md or a conf/**/*.yaml header composes.

Commands are taken from Markdown code blocks, from indented example lines of config headers
(``#   cycle ...``, with ``\\`` continuations), and from `cycle ...` spans in either; ``&&``
chains are split, ``[optional overrides]`` are included, and a multirun (``-m``) is composed
at the first value of each swept key. ``cycle <stage> --help`` must print the stage's help.
Generic patterns (``cycle <stage> ...``) and ``cycle --help`` are skipped.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from cycle.core.cli import _stage_help
from cycle.core.config import compose_stage, find_config_dir
from cycle.core.stages import discover_stages

ROOT = Path(__file__).resolve().parents[2]
CONF = find_config_dir()
SPAN = re.compile(r"`((?:\.venv/bin/)?cycle [^`]+)`")


def _joined(lines: list[str]) -> list[str]:
    """Lines with their ``\\`` continuations appended."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1].rstrip() + " " + line.strip()
        else:
            out.append(line.strip())
    return out


def _markdown_commands(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = SPAN.findall(text)
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        found += [ln for ln in _joined(block.splitlines()) if re.match(r"(\.venv/bin/)?cycle ", ln)]
    return found


def _header_commands(path: Path) -> list[str]:
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line[1:])
    found = [m for line in header for m in SPAN.findall(line)]
    examples = [ln for ln in _joined(header) if re.match(r"cycle ", ln)]
    # only indented example lines (`#   cycle ...`), not a first line describing the stage
    indented = {ln.strip() for ln in header if re.match(r"\s{2,}(&& )?cycle ", ln)}
    found += [ln for ln in examples if any(ln.startswith(i.rstrip("\\").strip()) for i in indented)]
    return found


def _commands() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    sources = [(str(p.relative_to(ROOT)), c) for p in pages for c in _markdown_commands(p)]
    for path in sorted(CONF.rglob("*.yaml")):
        sources += [(str(path.relative_to(CONF.parent)), c) for c in _header_commands(path)]
    out = []
    for where, text in sources:
        for part in re.split(r"\s*&&\s*", text):
            part = part.strip()
            if part and not re.match(r"(\.venv/bin/)?cycle (<|-)", part):
                out.append((where, part))
    return sorted(set(out))


COMMANDS = _commands()


def _overrides(command: str) -> tuple[str, list[str]]:
    tokens = shlex.split(command, comments=True)
    assert tokens[0].endswith("cycle"), command
    stage, rest = tokens[1], tokens[2:]
    args = []
    for token in rest:
        if token.startswith("[") and token.endswith("]") and "=" in token:
            token = token[1:-1]  # an optional override, written [key=value]
        elif token.startswith("["):
            token = token[1:]
        elif token.endswith("]") and token.count("[") < token.count("]"):
            token = token[:-1]
        if token != "-m":
            args.append(token)
    if "-m" in rest:  # a multirun: compose its first trial
        parsed = OverridesParser.create().parse_overrides(args)
        args = [
            f"{o.get_key_element()}={next(iter(o.sweep_iterator()))}"
            if o.is_sweep_override()
            else o.input_line
            for o in parsed
        ]
    return stage, args


def test_commands_were_found() -> None:
    where = {w for w, _ in COMMANDS}
    assert "README.md" in where and len(where) > 15 and len(COMMANDS) > 50
    assert {"docs/cli.md", "docs/paper-scale.md", "docs/smollm2.md"} <= where


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[f"{w}: {c}" for w, c in COMMANDS])
def test_documented_command_composes(where: str, command: str, tmp_path) -> None:
    stage, overrides = _overrides(command)
    assert stage in discover_stages(), f"{where}: unknown stage in `{command}`"
    if "--help" in overrides:
        assert f"usage: cycle {stage}" in _stage_help(stage)
        return
    cfg = compose_stage(stage, [*overrides, f"paths.root_dir={tmp_path}"])
    OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]),
        resolve=True,
        throw_on_missing=False,
    )
