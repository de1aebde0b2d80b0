"""The package as users get it: sdist and wheel build, and the wheel works in a fresh venv
(profiles, schemas and failure patterns are package data found at run time)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=600)
    return out


def test_sdist_and_wheel_carry_the_data(dist: Path):
    (wheel,) = dist.glob("rofs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("rofs/profiles/profile.schema.json", "rofs/profiles/data/postgres.yaml",
                   "rofs/diagnose/patterns.yaml", "rofs/cli.py"):
        assert needed in names, needed
    assert len([n for n in names if n.startswith("rofs/profiles/data/")]) == len(list((REPO / "src" / "rofs" / "profiles" / "data").glob("*.yaml")))
    (sdist,) = dist.glob("rofs-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("src/rofs/profiles/data/redis.yaml") for m in members)
    assert any(m.endswith("README.md") for m in members)
    assert any(m.endswith("/LICENSE") for m in members), "the license travels with the source"
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert "Classifier: Topic :: Security" in metadata and "Author: The rofs authors" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_wheel_works_in_a_fresh_venv(dist: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (wheel,) = dist.glob("rofs-*.whl")
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True,
                   capture_output=True, text=True, timeout=600)
    rofs = str(venv / "bin" / "rofs")
    out = subprocess.run([rofs, "profiles", "show", "postgres", "--format", "json"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0 and '"name": "postgres"' in out.stdout
    audit = subprocess.run([rofs, "audit", str(REPO / "examples" / "k8s")], capture_output=True, text=True, cwd=tmp_path)
    assert audit.returncode == 1 and "RO201" in audit.stdout
    explain = subprocess.run([rofs, "explain", str(REPO / "examples" / "logs" / "shop-db.log")],
                             capture_output=True, text=True, cwd=tmp_path)
    assert explain.returncode == 1 and "/var/run/postgresql" in explain.stdout


def test_pipx_install(dist: Path, tmp_path: Path):
    (wheel,) = dist.glob("rofs-*.whl")
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "pipx", "install", str(wheel)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    version = subprocess.run([str(tmp_path / "bin" / "rofs"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("rofs, version")
    policy = subprocess.run([str(tmp_path / "bin" / "rofs"), "policy", "gatekeeper", "--profiles", "redis"],
                            capture_output=True, text=True)
    assert policy.returncode == 0 and "package k8srofsreadonlyroot" in policy.stdout, "the Rego files are package data"
