"""rofs itself under a read-only root: its Dockerfile and CronJob example pass its own audit, and
it runs under `rofs run` with only the paths its own profile declares."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_run import need_sandbox

REPO = Path(__file__).parent.parent
ROFS = str(Path(sys.executable).with_name("rofs"))


def test_rofs_dockerfile_and_cronjob_pass_the_audit():
    result = subprocess.run([ROFS, "audit", str(REPO / "Dockerfile"), str(REPO / "examples" / "deploy")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "no findings" in result.stdout
    assert "1 dockerfile, 1 kubernetes" in result.stdout


def test_rofs_writes_nothing_it_does_not_declare(tmp_path: Path):
    need_sandbox()
    report = tmp_path / "report.json"
    checks = [
        [ROFS, "audit", str(REPO / "examples" / "k8s")],
        [ROFS, "explain", str(REPO / "examples" / "logs" / "shop-db.log")],
        [ROFS, "generate", "postgres", "--format", "compose"],
        [ROFS, "profiles", "show", "redis"],
    ]
    for command in checks:
        subprocess.run([ROFS, "run", "--profile", "rofs", "--layout", "host", "--format", "json", "--report", str(report),
                        "--", "env", "PYTHONDONTWRITEBYTECODE=1", *command], capture_output=True, text=True, cwd="/")
        data = json.loads(report.read_text())
        assert data["returncode"] in (0, 1), (command, data)
        assert data["refused"] == [], (command, data["refused"])
    assert data["writable"] == [], "the host layout declares no required path"
