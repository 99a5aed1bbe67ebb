"""The README's "Run as a service" commands, run as written: the block is read from README.md,
so what is tested is what is documented. Only the environment differs (a temporary state
folder, a free port, the test's venv and strategy model)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO
from tests.service.conftest import free_port, service_env


def readme_block() -> str:
    """The first bash block after the "Run as a service" heading."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Run as a service") :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_service_commands(tmp_path, scorer_model):
    env = service_env(tmp_path / "home", scorer_model)
    env.update(PORT=str(free_port()), VENV=sys.prefix, PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        shell = subprocess.Popen(["bash", "-euo", "pipefail", "-c", readme_block()], cwd=REPO, env=env,
                                 stdout=stdout, stderr=stderr, start_new_session=True)  # fmt: skip
        try:
            code = shell.wait(timeout=300)
        finally:
            os.killpg(shell.pid, signal.SIGTERM)  # the `make serve &` and `make worker &` it left
    assert code == 0, err.read_text()[-3000:]
    results = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    assert len(results) == 1, out.read_text()
    result = results[0]
    assert result["line"] == 1 and "error" not in result and 0 <= result["quality"] <= 1
    assert result["quality_tier"] and result["crisis_flags"] == []
