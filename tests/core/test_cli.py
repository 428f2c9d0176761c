import subprocess
import sys

import pytest

from cycle.core.cli import main
from cycle.core.stages import discover_stages


def test_help_lists_every_installed_stage(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    stages = discover_stages()
    assert "train_lm" in stages
    for name in stages:
        assert name in out


def test_unknown_stage_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as err:
        main(["no_such_stage"])
    assert err.value.code == 2
    assert "unknown stage 'no_such_stage'" in capsys.readouterr().err


def test_console_script_finds_the_config_from_another_directory(tmp_path):
    """The installed `cycle` script works outside the checkout (config found from the package)."""
    out = subprocess.run(
        [sys.executable, "-m", "cycle.core.cli", "train_lm", "--cfg", "job", f"paths.root_dir={tmp_path}", "data_files=[x]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "data_files:" in out.stdout and "trainer:" in out.stdout
