"""The runtime profiles (python, node, java, go, rust) against the real runtimes.

Each test runs a real interpreter or a freshly compiled program under
``bwrap --ro-bind / / --dev /dev --proc /proc`` (the root read-only, as with
``readOnlyRootFilesystem: true``), once with nothing writable and once with a
tmpfs on the path the profile declares.  What the program prints when the path
is read-only must match one of that path's ``signatures``, so ``rofs explain``
recognises it, and the profile's recommended knobs are the ones exercised.

These are the ``bwrap-run`` sources cited by the profiles.  Under ``CI=true`` a
missing bwrap, node, java or javac fails the test instead of skipping it; go,
npm, pip and rustc are optional extras and skip when absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import in_ci, require_tool
from rofs.model import Profile, WritablePath
from rofs.profiles import builtin_registry

TIMEOUT = 60
# Variables that would change where the runtimes put temporary files or caches.
SCRUB = (
    "TMPDIR", "TEMP", "TMP", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "XDG_CACHE_HOME",
    "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "NODE_OPTIONS", "GOTMPDIR", "GOFLAGS",
)


# ---------------------------------------------------------------- helpers


def profile(name: str) -> Profile:
    found = builtin_registry().get(name)
    assert found is not None, f"no built-in profile {name!r}"
    return found


def path_spec(prof: Profile, path: str, layout: str) -> WritablePath:
    for spec in prof.paths_for(layout):
        if spec.path == path:
            return spec
    raise AssertionError(f"{prof.name}: no path {path} in layout {layout}")


def recommended(prof: Profile, knob: str, layout: str) -> str:
    for k in prof.env_for(layout):
        if k.name == knob and k.recommended is not None:
            return k.recommended
    raise AssertionError(f"{prof.name}: no recommended value for {knob} in layout {layout}")


def assert_signature(text: str, spec: WritablePath, what: str) -> None:
    assert spec.signatures, f"{spec.path} has no signatures"
    hits = [sig for sig in spec.signatures if sig in text]
    assert hits, (
        f"{what}: none of the signatures of {spec.path} {list(spec.signatures)} "
        f"occur in the observed output:\n{text}"
    )


_BWRAP_OK: dict[str, bool] = {}


def bwrap() -> str:
    """bwrap's path, after checking that it can build a read-only sandbox here."""
    path = require_tool("bwrap", "bubblewrap")
    if path not in _BWRAP_OK:
        probe = subprocess.run(
            [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )
        _BWRAP_OK[path] = probe.returncode == 0
        if not _BWRAP_OK[path]:
            _BWRAP_OK[path + ":err"] = probe.stderr  # type: ignore[assignment]
    if not _BWRAP_OK[path]:
        message = f"bwrap cannot create a sandbox here: {_BWRAP_OK.get(path + ':err')}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def sandbox(
    argv: list[str],
    *,
    tmpfs_tmp: bool = False,
    binds: tuple[tuple[str, str], ...] = (),
    ro_binds: tuple[tuple[str, str], ...] = (),
    cwd: str = "/",
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run *argv* with the whole root read-only; optionally a tmpfs on /tmp and writable binds.

    Mounts are applied in order: the tmpfs first, then writable binds, then read-only
    binds, so a directory of the test can be put back under a fresh /tmp.
    """
    cmd = [bwrap(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent", *extra]
    if tmpfs_tmp:
        cmd += ["--tmpfs", "/tmp"]
    for src, dst in binds:
        cmd += ["--bind", src, dst]
    for src, dst in ro_binds:
        cmd += ["--ro-bind", src, dst]
    cmd += ["--chdir", cwd, "--", *argv]
    base = {k: v for k, v in os.environ.items() if k not in SCRUB}
    base.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=base, timeout=TIMEOUT)


# ---------------------------------------------------------------- python

# The interpreter itself, not the venv's link to it: the venv may live under /tmp (a CI
# checkout), which the tests cover with a tmpfs.  Only the standard library is used inside.
PY = os.path.realpath(sys.executable)
MKSTEMP = "import tempfile; fd, name = tempfile.mkstemp(); print(name)"


def test_python_tempfile_with_nothing_writable_says_no_usable_temporary_directory(tmp_path: Path):
    result = sandbox([PY, "-c", MKSTEMP], cwd=str(tmp_path))
    assert result.returncode != 0
    assert "FileNotFoundError" in result.stderr
    assert "No usable temporary directory found in" in result.stderr
    assert "'/tmp'" in result.stderr and str(tmp_path) in result.stderr  # cwd is the last resort
    assert_signature(result.stderr, path_spec(profile("python"), "/tmp", "official"), "python tempfile")


def test_python_tempfile_falls_back_silently_to_a_writable_cwd(tmp_path: Path):
    workdir = tmp_path / "app"
    workdir.mkdir()
    result = sandbox([PY, "-c", MKSTEMP], binds=((str(workdir), str(workdir)),), cwd=str(workdir))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning at all
    created = Path(result.stdout.strip())
    assert created.parent == workdir and created.exists()


def test_python_tempfile_uses_the_mounted_tmp(tmp_path: Path):
    p = profile("python")
    tmpdir = recommended(p, "TMPDIR", "official")
    result = sandbox([PY, "-c", MKSTEMP], tmpfs_tmp=True, cwd="/", env={"TMPDIR": tmpdir})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(tmpdir + "/")
    assert path_spec(p, tmpdir, "official").required


def test_python_bytecode_writes_fail_silently_and_the_knob_stops_them(tmp_path: Path):
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    name = f"rofs_probe_{uuid.uuid4().hex[:8]}"
    (module_dir / f"{name}.py").write_text("VALUE = 42\n")
    code = f"import {name}; print({name}.VALUE)"
    env = {"PYTHONPATH": str(module_dir)}

    result = sandbox([PY, "-v", "-c", code], env=env)
    assert result.returncode == 0 and result.stdout.strip() == "42"
    refused = [line for line in result.stderr.splitlines() if "could not create" in line and str(module_dir) in line]
    assert refused and "Read-only file system" in refused[0], result.stderr[-2000:]
    assert not (module_dir / "__pycache__").exists()

    knob = recommended(profile("python"), "PYTHONDONTWRITEBYTECODE", "official")
    quiet = sandbox([PY, "-v", "-c", code], env={**env, "PYTHONDONTWRITEBYTECODE": knob})
    assert quiet.returncode == 0 and quiet.stdout.strip() == "42"
    assert not [line for line in quiet.stderr.splitlines() if "could not create" in line]


def test_python_cache_under_a_home_of_slash(tmp_path: Path):
    code = "import os; os.makedirs(os.path.expanduser('~/.cache/rofs-probe'), exist_ok=True)"
    result = sandbox([PY, "-c", code], env={"HOME": "/"})
    assert result.returncode != 0
    assert_signature(result.stderr, path_spec(profile("python"), "/var/cache/app", "official"), "python ~/.cache")


def test_pip_disables_its_cache_on_a_read_only_home(tmp_path: Path):
    if subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not installed for this interpreter")
    # pip only complains to a non-root user: map the caller to UID 1000 in a user namespace.
    result = sandbox(
        [PY, "-m", "pip", "list", "--disable-pip-version-check"],
        env={"HOME": str(tmp_path / "home")},
        extra=("--unshare-user", "--uid", "1000", "--gid", "1000"),
    )
    if result.returncode != 0 and "setting up uid map" in result.stderr:
        pytest.skip(f"no user namespaces here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert_signature(result.stderr, path_spec(profile("python"), "/var/cache/app", "official"), "pip")


# ---------------------------------------------------------------- node

NODE_PROBE = r"""
const fs = require('fs'), os = require('os'), path = require('path');
const base = path.join(os.tmpdir(), process.argv[1]);
const out = {tmpdir: os.tmpdir()};
function attempt(key, fn) {
  try { fn(); out[key] = {ok: true}; }
  catch (e) { out[key] = {ok: false, code: e.code, message: e.message}; }
}
attempt('recursive', () => fs.mkdirSync(path.join(base, 'a', 'b'), {recursive: true}));
attempt('plain', () => fs.mkdirSync(base + '-plain'));
attempt('write', () => fs.writeFileSync(base + '.txt', 'x'));
attempt('mkdtemp', () => fs.mkdtempSync(base + '-'));
console.log(JSON.stringify(out));
"""


def run_node_probe(**kwargs) -> dict:
    node = require_tool("node", "nodejs")
    name = f"rofs-probe-{uuid.uuid4().hex[:8]}"
    result = sandbox([node, "-e", NODE_PROBE, name], **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_node_recursive_mkdir_reports_erofs_as_enoent():
    out = run_node_probe(env={"TMPDIR": recommended(profile("node"), "TMPDIR", "official")})
    assert out["tmpdir"] == "/tmp"
    assert out["recursive"]["code"] == "ENOENT"  # the misreport
    assert out["recursive"]["message"].startswith("ENOENT: no such file or directory, mkdir '/tmp/")
    assert out["plain"]["code"] == "EROFS"
    assert out["write"]["code"] == "EROFS" and out["mkdtemp"]["code"] == "EROFS"
    spec = path_spec(profile("node"), "/tmp", "official")
    for key in ("recursive", "plain", "write", "mkdtemp"):
        assert_signature(out[key]["message"], spec, f"node {key}")


def test_node_writes_to_the_mounted_tmp():
    out = run_node_probe(tmpfs_tmp=True)
    assert all(out[key]["ok"] for key in ("recursive", "plain", "write", "mkdtemp")), out


def _npm_project(tmp_path: Path, cache_tmp: bool) -> Path:
    """A project dir, a home with an npm cache in it (read-only in the sandbox) and a local package tarball."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "package.json").write_text('{"name": "probe", "version": "1.0.0"}\n')
    cache = tmp_path / "home" / ".npm" / "_cacache"
    (cache / "tmp" if cache_tmp else cache).mkdir(parents=True)
    pkg = tmp_path / "pkg"
    (pkg / "package").mkdir(parents=True)
    (pkg / "package" / "package.json").write_text('{"name": "rofs-dep", "version": "1.0.0", "main": "index.js"}\n')
    (pkg / "package" / "index.js").write_text("module.exports = 1;\n")
    with tarfile.open(tmp_path / "rofs-dep-1.0.0.tgz", "w:gz") as tar:
        tar.add(pkg / "package", arcname="package")
    return tmp_path


@pytest.mark.parametrize(
    "cache_tmp, code",
    [(True, "npm error code EROFS"), (False, "npm error code ENOENT")],  # ENOENT: the recursive-mkdir misreport
    ids=["cache-used-before", "cache-never-used"],
)
def test_npm_install_exits_on_a_read_only_cache_even_with_tmp_writable(tmp_path: Path, cache_tmp, code):
    require_tool("node", "nodejs")
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm not installed (apt-get install -y npm)")
    work = _npm_project(tmp_path, cache_tmp)
    mounts = {
        "tmpfs_tmp": True,
        "binds": ((str(work), "/tmp/w"),),
        "ro_binds": ((str(work / "home"), "/tmp/w/home"),),
        "cwd": "/tmp/w/proj",
    }
    env = {"HOME": "/tmp/w/home", "npm_config_update_notifier": "false", "npm_config_audit": "false",
           "npm_config_fund": "false"}
    argv = [npm, "install", "--offline", "/tmp/w/rofs-dep-1.0.0.tgz"]

    refused = sandbox(argv, env=env, **mounts)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert code in output and "/tmp/w/home/.npm/_cacache/tmp" in output, output
    assert "Log files were not written due to an error writing to the directory" in output
    assert_signature(output, path_spec(profile("node"), "/home/node/.npm", "official"), "npm install")

    moved = sandbox(argv, env={**env, "npm_config_cache": "/tmp/npm-cache"}, **mounts)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert (work / "proj" / "node_modules" / "rofs-dep" / "index.js").exists()


# ---------------------------------------------------------------- java

JAVA_PROBE = r"""
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

public class RofsProbe {
    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "start";
        File perf = new File("/tmp/hsperfdata_" + System.getProperty("user.name"),
                             String.valueOf(ProcessHandle.current().pid()));
        System.out.println("tmpdir=" + System.getProperty("java.io.tmpdir"));
        System.out.println("hsperfdata=" + (perf.exists() ? perf.length() : -1));
        if (mode.equals("io")) {
            System.out.println("created " + File.createTempFile("rofs", ".tmp"));
        } else if (mode.equals("nio")) {
            System.out.println("created " + Files.createTempFile("rofs", ".tmp"));
        } else if (mode.equals("oom")) {
            List<long[]> hog = new ArrayList<>();
            while (true) hog.add(new long[1 << 18]);
        }
    }
}
"""


@pytest.fixture(scope="module")
def java_probe(tmp_path_factory) -> tuple[str, Path]:
    java = require_tool("java", "default-jre-headless")
    javac = require_tool("javac", "default-jdk-headless")
    classes = tmp_path_factory.mktemp("java-probe")
    (classes / "RofsProbe.java").write_text(JAVA_PROBE)
    built = subprocess.run([javac, "-d", str(classes), str(classes / "RofsProbe.java")],
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert built.returncode == 0, built.stderr
    return java, classes


def run_java(java_probe, *jvm_args: str, mode: str = "start", tmpfs_tmp: bool = False, env=None):
    java, classes = java_probe
    if tmpfs_tmp:  # put the classes back under the fresh /tmp, read-only
        return sandbox([java, *jvm_args, "-cp", "/tmp/classes", "RofsProbe", mode], tmpfs_tmp=True,
                       ro_binds=((str(classes), "/tmp/classes"),), cwd="/tmp/classes", env=env)
    return sandbox([java, *jvm_args, "-cp", str(classes), "RofsProbe", mode], cwd=str(classes), env=env)


def test_java_starts_silently_without_its_perf_data_file(java_probe):
    result = run_java(java_probe)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing tells the operator jps/jstat lost the process
    assert "hsperfdata=-1" in result.stdout


def test_java_writes_hsperfdata_to_the_mounted_tmp_unless_switched_off(java_probe):
    mounted = run_java(java_probe, tmpfs_tmp=True)
    assert mounted.returncode == 0, mounted.stderr
    size = int(mounted.stdout.split("hsperfdata=")[1].split()[0])
    assert size > 0  # 32768 with OpenJDK 17
    java = profile("java")
    knobs = {k.name for k in java.env_for("temurin")}
    for option in ("-XX:-UsePerfData", "-XX:+PerfDisableSharedMem"):
        assert option in knobs
        off = run_java(java_probe, option, tmpfs_tmp=True)
        assert off.returncode == 0, off.stderr
        assert "hsperfdata=-1" in off.stdout, option


@pytest.mark.parametrize("mode", ["io", "nio"])
def test_java_temp_files_on_a_read_only_tmpdir(java_probe, mode):
    result = run_java(java_probe, mode=mode)
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr
    assert_signature(result.stderr, path_spec(profile("java"), "/tmp", "temurin"), f"java {mode}")
    mounted = run_java(java_probe, mode=mode, tmpfs_tmp=True)
    assert mounted.returncode == 0, mounted.stderr
    assert "created /tmp/rofs" in mounted.stdout


def test_java_heap_dump_goes_to_the_recommended_path(java_probe):
    oom = ("-Xmx32m", "-XX:+UseSerialGC", "-XX:+HeapDumpOnOutOfMemoryError")
    lost = run_java(java_probe, *oom, mode="oom")
    assert lost.returncode != 0
    assert "Unable to create java_pid" in lost.stdout and "Read-only file system" in lost.stdout
    java = profile("java")
    assert_signature(lost.stdout, path_spec(java, "/tmp", "temurin"), "java heap dump")

    carrier_value = recommended(java, "-XX:HeapDumpPath", "temurin")
    kept = run_java(java_probe, *oom, mode="oom", tmpfs_tmp=True, env={"JAVA_TOOL_OPTIONS": carrier_value})
    assert "Picked up JAVA_TOOL_OPTIONS: -XX:HeapDumpPath=/tmp" in kept.stderr
    assert "Dumping heap to /tmp/java_pid" in kept.stdout and "Heap dump file created" in kept.stdout


# ---------------------------------------------------------------- rust and go

RUST_PROBE = r"""
fn main() {
    let dir = std::env::temp_dir();
    println!("temp_dir={}", dir.display());
    match std::fs::File::create(dir.join(format!("rofs-probe-{}", std::process::id()))) {
        Ok(_) => println!("created"),
        Err(e) => { println!("display: {}", e); println!("debug: {:?}", e); }
    }
}
"""


def test_rust_temp_dir_on_a_read_only_root(tmp_path: Path):
    rustc = shutil.which("rustc") or shutil.which(os.path.expanduser("~/.cargo/bin/rustc"))
    if not rustc:
        pytest.skip("rustc not installed")
    (tmp_path / "probe.rs").write_text(RUST_PROBE)
    built = subprocess.run([rustc, "-o", str(tmp_path / "probe"), str(tmp_path / "probe.rs")],
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert built.returncode == 0, built.stderr
    refused = sandbox([str(tmp_path / "probe")])
    assert "temp_dir=/tmp" in refused.stdout
    assert "display: Read-only file system (os error 30)" in refused.stdout
    assert_signature(refused.stdout, path_spec(profile("rust"), "/tmp", "cc"), "rust File::create")
    mounted = sandbox(["/tmp/bin/probe"], tmpfs_tmp=True, ro_binds=((str(tmp_path), "/tmp/bin"),))
    assert "created" in mounted.stdout, mounted.stdout + mounted.stderr


GO_PROBE = r"""
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("TempDir=" + os.TempDir())
	if f, err := os.CreateTemp("", "rofs-*"); err != nil {
		fmt.Println("CreateTemp:", err)
	} else {
		fmt.Println("created", f.Name())
	}
}
"""


def test_go_temp_dir_on_a_read_only_root(tmp_path: Path):
    go = require_tool("go", "golang-go")  # fails under CI=true when missing: setup installs it
    (tmp_path / "main.go").write_text(GO_PROBE)
    built = subprocess.run([go, "build", "-o", str(tmp_path / "probe"), str(tmp_path / "main.go")],
                           capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                           env={**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "off"})
    assert built.returncode == 0, built.stderr
    refused = sandbox([str(tmp_path / "probe")])
    assert "TempDir=/tmp" in refused.stdout
    assert "CreateTemp: open /tmp/rofs-" in refused.stdout and ": read-only file system" in refused.stdout
    assert_signature(refused.stdout, path_spec(profile("go"), "/tmp", "static"), "go os.CreateTemp")
    mounted = sandbox(["/tmp/bin/probe"], tmpfs_tmp=True, ro_binds=((str(tmp_path), "/tmp/bin"),))
    assert "created /tmp/rofs-" in mounted.stdout, mounted.stdout + mounted.stderr


# ---------------------------------------------------------------- the profiles cite this file


@pytest.mark.parametrize("name", ["python", "node", "java", "go", "rust"])
def test_runtime_profiles_cite_these_runs(name):
    prof = profile(name)
    src = prof.source("bwrap-run")
    assert src is not None and src.ref == "tests/test_profiles_runtimes.py"
    assert any("bwrap-run" in p.sources for p in prof.paths)
    assert any(k.recommended == "/tmp" and k.name == "TMPDIR" for k in prof.env) or name == "java"
