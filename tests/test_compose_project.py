"""Compose files read as docker compose reads them: a base with the override beside it, a
fragment with the base it completes, `extends:` and `include:`.  Each case from a minimal
project written by the test; audit and fix are run the way a user runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner

from conftest import require_tool
from rofs.audit import AuditOptions, audit
from rofs.cli import main
from rofs.fix import ALL_RULES, fix_paths
from rofs.model import Severity
from rofs.profiles import builtin_registry
from test_cli import ROFS

REGISTRY = builtin_registry()


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def findings(path: Path, select: set[str] | None = None, root: Path | None = None) -> list[tuple[str, int, str, str]]:
    """(file name relative to *root*, line, rule, service) of every finding of *path*."""
    result = audit([str(path)], REGISTRY, AuditOptions(select=select))
    assert result.errors == [], result.errors
    root = root or (path if path.is_dir() else path.parent)
    return sorted((os.path.relpath(f.location.path, root), f.location.line, f.rule, f.object)
                  for f in result.findings)


def files_of(*paths: Path):
    return audit([str(p) for p in paths], REGISTRY, AuditOptions(keep_workloads=True))


def fixed(path: Path, unknown: str = "read-only"):
    """The fix of every file *path* leads to, by name relative to its directory."""
    results = fix_paths([str(path)], REGISTRY, set(ALL_RULES), unknown_images=unknown)
    root = path if path.is_dir() else path.parent
    return {os.path.relpath(r.path, root): r for r in results}


NGINX = "services:\n  web:\n    image: nginx:1.25\n    read_only: true\n    tmpfs: [/run, /var/cache/nginx]\n"


# --- the override docker compose loads by itself ---------------------------------------------


def test_the_override_beside_a_base_is_read_with_it(tmp_path):
    """compose.override.yaml is part of every `docker compose up`: what it sets is what runs."""
    project(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.25\n    tmpfs: [/run, /var/cache/nginx]\n"
                        "  cache:\n    image: redis:7.4\n    read_only: true\n",
        "compose.override.yaml": "services:\n  web:\n    read_only: true\n    ports: ['8080:80']\n"
                                 "  extra:\n    image: busybox\n",
    })
    found = findings(tmp_path, select={"RO101", "RO201"})
    # web is read-only through its override; cache needs /data; extra (only in the override) is read there
    assert found == [("compose.override.yaml", 5, "RO101", "extra"), ("compose.yaml", 5, "RO201", "cache")]
    result = files_of(tmp_path)
    override = next(f for f in result.files if f.path.endswith("compose.override.yaml"))
    assert [w.name for w in override.workloads] == ["extra"]
    assert override.skipped_kinds["service read with its base"] == 1


def test_an_override_named_alone_says_where_it_is_read(tmp_path):
    project(tmp_path, {"compose.yaml": NGINX, "compose.override.yaml": "services:\n  web:\n    ports: ['80:80']\n"})
    [source] = files_of(tmp_path / "compose.override.yaml").files
    assert source.workloads == []
    assert source.skipped == f"an override of {tmp_path}/compose.yaml: read with it (rofs audit {tmp_path}/compose.yaml)"


def test_a_setting_the_override_decides_is_not_fixed_in_the_base(tmp_path):
    """`read_only: false` in the override wins over anything written in the base: the fix says so
    and leaves both files as they are; a mount can still be added (lists merge)."""
    project(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.25\n",
        "compose.override.yaml": "services:\n  web:\n    read_only: false\n",
    })
    result = fixed(tmp_path / "compose.yaml")["compose.yaml"]
    assert result.error is None
    assert any("read_only is set in" in n and "compose.override.yaml" in n and "not fixed" in n for n in result.notes)
    assert "read_only" not in yaml.safe_load(result.fixed)["services"]["web"]
    assert [f.rule for f in result.applied] == []  # RO101 holds the mounts too: nothing half-done


def test_reset_in_the_override_keeps_mounts_out_of_the_base(tmp_path):
    """`tmpfs: !reset []` and `volumes: !override` in an override replace what the base lists: a
    mount added to the base would never reach the container."""
    project(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: nginx:1.25\n    read_only: true\n"
                        "    tmpfs: [/run, /var/cache/nginx]\n",
        "compose.override.yaml": "services:\n  web:\n    tmpfs: !reset []\n",
    })
    assert findings(tmp_path, select={"RO201"}) == [("compose.yaml", 2, "RO201", "web")] * 2  # /run and the cache
    result = fixed(tmp_path / "compose.yaml")["compose.yaml"]
    assert not result.changed
    assert any("replaced (!override or !reset)" in n for n in result.notes), result.notes


def test_volumes_merge_by_target(tmp_path):
    """An override's volume at a target replaces the base's at the same target (Compose's merge)."""
    project(tmp_path, {
        "compose.yaml": "services:\n  cache:\n    image: redis:7.4\n    read_only: true\n"
                        "    volumes: [{type: tmpfs, target: /data}]\n",
        "compose.override.yaml": "services:\n  cache:\n    volumes: ['cache-data:/data']\nvolumes:\n  cache-data: {}\n",
    })
    assert findings(tmp_path, select={"RO201", "RO202"}) == []  # /data is the override's named volume


# --- fragments: `docker compose -f BASE -f THIS` --------------------------------------------


PROD = "services:\n  web:\n    environment: {MODE: prod}\n    tmpfs:\n      - /tmp\n"


def test_a_fragment_is_read_with_the_base_beside_it(tmp_path):
    project(tmp_path, {"docker-compose.yml": NGINX, "docker-compose.prod.yml": PROD})
    found = findings(tmp_path / "docker-compose.prod.yml", select={"RO101", "RO201", "RO203"})
    # read-only and mounted through its base; its own /tmp and the base's two tmpfs have no size
    assert found == [("docker-compose.prod.yml", 5, "RO203", "web"), ("docker-compose.yml", 5, "RO203", "web"),
                     ("docker-compose.yml", 5, "RO203", "web")]
    [source] = files_of(tmp_path / "docker-compose.prod.yml").files
    [web] = source.workloads
    assert web.containers[0].image == "nginx:1.25"
    # defined in the base: a finding about it points there (and is said once for base and fragments)
    assert web.location is not None and web.location.path.endswith("docker-compose.yml")
    assert web.containers[0].where("environment").path.endswith("docker-compose.prod.yml")


def test_a_fragment_in_a_folder_completes_the_base_above(tmp_path):
    """overrides/compose.redis.yaml beside compose.yaml one level up (`-f compose.yaml -f overrides/...`)."""
    project(tmp_path, {"compose.yaml": NGINX, "overrides/compose.extra.yaml": "services:\n  web:\n    read_only: false\n"})
    assert findings(tmp_path / "overrides/compose.extra.yaml", select={"RO101"}, root=tmp_path) == [
        ("overrides/compose.extra.yaml", 3, "RO101", "web")]


def test_a_fragment_without_a_base_is_skipped_and_says_why(tmp_path):
    project(tmp_path, {"compose.prod.yaml": PROD})
    [source] = files_of(tmp_path / "compose.prod.yaml").files
    assert source.workloads == [] and source.skipped is not None
    assert "no base beside it" in source.skipped and "docker compose -f BASE -f THIS config" in source.skipped


def test_a_fragment_is_never_fixed_its_base_is(tmp_path):
    project(tmp_path, {"compose.yaml": "services:\n  web:\n    image: nginx:1.25\n", "compose.prod.yaml": PROD})
    results = fixed(tmp_path)
    prod = results["compose.prod.yaml"]
    assert not prod.changed
    assert any("laid over" in n and "compose.yaml" in n and "not fixed here" in n for n in prod.notes), prod.notes
    base = results["compose.yaml"]
    assert yaml.safe_load(base.fixed)["services"]["web"]["read_only"] is True


def test_a_base_finding_is_reported_once_for_the_base_and_its_fragments(tmp_path):
    """An unsized tmpfs written in the base is in every deployment built on it: said once."""
    base = "services:\n  web:\n    image: nginx:1.25\n    read_only: true\n    tmpfs: [/run, /var/cache/nginx:size=1g]\n"
    project(tmp_path, {"compose.yaml": base, "compose.a.yaml": PROD.replace("prod", "a"),
                       "compose.b.yaml": PROD.replace("prod", "b")})
    found = [f for f in findings(tmp_path, select={"RO203"}) if f[0] == "compose.yaml"]
    assert found == [("compose.yaml", 5, "RO203", "web")]


def test_a_comment_in_one_file_does_not_hide_a_finding_in_another(tmp_path):
    """`# rofs: ignore=` hides findings on its own file's lines; a fragment holds findings of both."""
    base = "services:\n  web:\n    image: nginx:1.25\n    read_only: true\n    tmpfs:\n      - /tmp\n"
    frag = "services:\n  web:\n    environment: {A: b}\n    # rofs: ignore=RO203 -- not this file's line\n    x: 1\n"
    project(tmp_path, {"compose.yaml": base, "compose.prod.yaml": frag})
    found = findings(tmp_path / "compose.prod.yaml", select={"RO203"})
    assert found == [("compose.yaml", 6, "RO203", "web")]  # line 6 of the base, below line 4 of the fragment


def test_a_broken_base_is_an_error_of_that_file(tmp_path):
    project(tmp_path, {"compose.yaml": "services:\n  web: [\n", "compose.prod.yaml": PROD})
    result = audit([str(tmp_path / "compose.prod.yaml")], REGISTRY, AuditOptions())
    assert [(Path(e.path).name, e.line) for e in result.errors] == [("compose.yaml", 3)]
    assert result.exit_code(Severity.LOW) == 2


# --- extends ----------------------------------------------------------------------------------


def test_extends_in_the_same_file_and_from_another(tmp_path):
    project(tmp_path, {
        "common/base.yaml": "services:\n  hardened:\n    image: busybox\n    read_only: true\n    tmpfs: [/tmp]\n",
        "compose.yaml": "services:\n  api:\n    extends: {file: common/base.yaml, service: hardened}\n"
                        "    image: redis:7.4\n    volumes: ['data:/data']\n"
                        "  worker:\n    extends: api\n    read_only: false\nvolumes:\n  data: {}\n",
    })
    found = findings(tmp_path / "compose.yaml", select={"RO101", "RO201", "RO203"})
    assert found == [("common/base.yaml", 5, "RO203", "api"), ("common/base.yaml", 5, "RO203", "worker"),
                     ("compose.yaml", 8, "RO101", "worker")]
    result = fixed(tmp_path / "compose.yaml")["compose.yaml"]
    assert yaml.safe_load(result.fixed)["services"]["worker"]["read_only"] is True  # its own setting wins
    assert any("its mount at /tmp is written in" in n and "base.yaml" in n for n in result.notes), result.notes


def test_extends_that_loops_or_names_nothing_is_an_error(tmp_path):
    project(tmp_path, {"compose.yaml": "services:\n  a:\n    extends: b\n  b:\n    extends: a\n"
                                       "  c:\n    extends: {service: nope}\n  d:\n    image: redis:7.4\n"})
    result = audit([str(tmp_path / "compose.yaml")], REGISTRY, AuditOptions())
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "service b: extends: a loop (b -> a -> b); docker compose refuses it too"),
        (5, "service a: extends: a loop (a -> b -> a); docker compose refuses it too"),
        (7, f"service c: extends: no service nope in {tmp_path}/compose.yaml"),
    ]
    assert [w.name for f in result.files for w in f.workloads] == []  # keep_workloads is off: counts say it
    assert result.files[0].workload_count == 1  # d is still read


# --- include ----------------------------------------------------------------------------------


def test_included_files_are_audited_and_fixed(tmp_path):
    project(tmp_path, {
        "compose.yaml": "include:\n  - db/compose.yaml\n  - path: https://example.com/x.yaml\n"
                        "services:\n  web:\n    image: nginx:1.25\n    read_only: true\n"
                        "    tmpfs: [/run:size=1m, /var/cache/nginx:size=1g]\n",
        "db/compose.yaml": "services:\n  cache:\n    image: redis:7.4\n",
    })
    assert findings(tmp_path / "compose.yaml", select={"RO101"}) == [("db/compose.yaml", 2, "RO101", "cache")]
    runner = CliRunner()
    out = runner.invoke(main, ["audit", str(tmp_path / "compose.yaml"), "--select", "RO101"])
    assert "include https://example.com/x.yaml: not a local file, not read" in out.stderr
    results = fixed(tmp_path / "compose.yaml")
    assert yaml.safe_load(results["compose.yaml"].fixed) == yaml.safe_load((tmp_path / "compose.yaml").read_text())
    db = results["db/compose.yaml"]
    assert yaml.safe_load(db.fixed)["services"]["cache"]["read_only"] is True


def test_a_file_included_from_outside_is_audited_but_not_fixed(tmp_path):
    project(tmp_path, {"app/compose.yaml": "include: [../shared/compose.yaml]\n",
                       "shared/compose.yaml": "services:\n  cache:\n    image: redis:7.4\n"})
    assert findings(tmp_path / "app/compose.yaml", select={"RO101"}) == [("../shared/compose.yaml", 2, "RO101", "cache")]
    results = fix_paths([str(tmp_path / "app/compose.yaml")], REGISTRY, set(ALL_RULES))
    assert [r.path for r in results] == [str(tmp_path / "app/compose.yaml")]
    assert any("lies outside" in n and "fix does not write it" in n for n in results[0].notes), results[0].notes


def test_a_missing_include_is_an_error_with_its_line(tmp_path):
    project(tmp_path, {"compose.yaml": "include:\n  - nope.yaml\nservices:\n  web:\n    image: redis:7.4\n"})
    result = audit([str(tmp_path / "compose.yaml")], REGISTRY, AuditOptions())
    assert [(e.line, e.message) for e in result.errors] == [(2, f"include: {tmp_path}/nope.yaml is not a file")]


# --- found by review: real layouts and hostile companions ------------------------------------


def test_docker_compose_loads_any_default_override_with_the_base_it_picks(tmp_path):
    """compose.yaml with docker-compose.override.yml: docker compose loads both (its first base
    name found, with its first override name found)."""
    project(tmp_path, {"compose.yaml": NGINX, "docker-compose.override.yml": "services:\n  web:\n    read_only: false\n"})
    assert findings(tmp_path, select={"RO101"}) == [("docker-compose.override.yml", 3, "RO101", "web")]


def test_a_file_the_base_extends_is_not_laid_over_it(tmp_path):
    """docker-compose.yml's worker extends docker-compose.base.yml's worker: that file is what the
    base builds on, not an override of it (no fragment read, no finding twice)."""
    project(tmp_path, {
        "docker-compose.yml": "services:\n  worker:\n    extends: {file: docker-compose.base.yml, service: worker}\n"
                              "    image: redis:7.4\n",
        "docker-compose.base.yml": "services:\n  worker:\n    environment: {A: b}\n",
    })
    result = files_of(tmp_path)
    base = next(f for f in result.files if f.path.endswith("docker-compose.base.yml"))
    assert base.workloads == [] and base.skipped_kinds["service fragment"] == 1
    assert findings(tmp_path, select={"RO101"}) == [("docker-compose.yml", 2, "RO101", "worker")]


def test_a_walk_from_dot_says_each_finding_once(tmp_path, monkeypatch):
    """`rofs audit .` names files ./x; a base read for a fragment is named the same way."""
    project(tmp_path, {"docker-compose.yml": "services:\n  web:\n    image: nginx:1.25\n",
                       "docker-compose.prod.yml": PROD, "docker-compose.dev.yml": PROD})
    monkeypatch.chdir(tmp_path)
    result = audit(["."], REGISTRY, AuditOptions(select={"RO101"}))
    assert [(f.location.path, f.location.line) for f in result.findings] == [("./docker-compose.yml", 2)]


def test_what_an_override_leaves_empty_or_resets(tmp_path):
    """`read_only:` with no value keeps the base's; `read_only: !reset` removes it, and the finding
    points at the reset."""
    project(tmp_path / "empty", {"compose.yaml": NGINX, "compose.override.yaml": "services:\n  web:\n    read_only:\n"})
    assert findings(tmp_path / "empty", select={"RO101"}) == []
    project(tmp_path / "reset", {"compose.yaml": NGINX,
                                 "compose.override.yaml": "services:\n  web:\n    read_only: !reset null\n"})
    assert findings(tmp_path / "reset", select={"RO101"}) == [("compose.override.yaml", 3, "RO101", "web")]


def test_a_read_only_root_that_relies_on_the_override_says_so(tmp_path):
    """The mounts are in compose.override.yaml: `docker compose -f compose.yaml` alone lacks them."""
    project(tmp_path, {"compose.yaml": "services:\n  web:\n    image: nginx:1.25\n",
                       "compose.override.yaml": "services:\n  web:\n    tmpfs: [/run:size=1m, /var/cache/nginx:size=1g]\n"})
    result = fixed(tmp_path / "compose.yaml")["compose.yaml"]
    assert yaml.safe_load(result.fixed)["services"]["web"]["read_only"] is True
    assert any("made read-only with the mounts" in n and "compose.override.yaml" in n and "/var/cache/nginx" in n
               for n in result.notes), result.notes


def test_extends_chains_long_and_with_variables(tmp_path):
    chain = "".join(f"  s{i}:\n    extends: s{i + 1}\n" for i in range(20)) + "  s20:\n    image: redis:7.4\n"
    project(tmp_path / "long", {"compose.yaml": "services:\n" + chain})
    result = audit([str(tmp_path / "long")], REGISTRY, AuditOptions(select={"RO101"}))
    assert result.errors == [] and len(result.findings) == 21
    project(tmp_path / "var", {
        "common.yaml": "services:\n  base:\n    image: redis:7.4\n    read_only: true\n",
        "compose.yaml": "services:\n  a:\n    extends: {file: '${COMMON:-common.yaml}', service: base}\n"
                        "  b:\n    extends: {file: '${COMMON}', service: base}\n    image: redis:7.4\n",
    })
    [source] = files_of(tmp_path / "var" / "compose.yaml").files
    assert source.errors == []
    assert [w.containers[0].security.read_only_root_fs for w in source.workloads] == [True, None]
    assert any("service b" in n and "no default" in n for n in source.notes), source.notes


def test_hostile_companions_are_errors_not_hangs_or_tracebacks(tmp_path):
    """A `<<` bomb in an override (10 aliases over 8 levels), a NUL byte in an extends file."""
    bomb = ["x-a0: &a0 {k0: 1}"]
    for i in range(1, 9):
        bomb.append(f"x-a{i}: &a{i}\n  <<: [{', '.join([f'*a{i - 1}'] * 10)}]\n  k{i}: 1")
    bomb.append("services:\n  app:\n    <<: *a8\n")
    project(tmp_path / "bomb", {"compose.yaml": "services:\n  app:\n    image: redis:7.4\n",
                                "compose.override.yaml": "\n".join(bomb)})
    assert findings(tmp_path / "bomb", select={"RO101"}) == [("compose.yaml", 2, "RO101", "app")]
    project(tmp_path / "nul", {"compose.yaml": 'services:\n  j:\n    image: redis:7\n'
                                              '    extends: {file: "a\\x00b", service: x}\n'})
    result = CliRunner().invoke(main, ["audit", str(tmp_path / "nul")])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert "NUL byte" in result.stderr


def test_an_include_of_several_files_merged_says_it_reads_them_one_by_one(tmp_path):
    project(tmp_path, {"compose.yaml": "include:\n  - path: [inc/base.yaml, inc/over.yaml]\n",
                       "inc/base.yaml": "services:\n  web:\n    image: redis:7.4\n",
                       "inc/over.yaml": "services:\n  web:\n    read_only: false\n"})
    [source, *_] = files_of(tmp_path / "compose.yaml").files
    assert source.notes == [("line 2: include merges 2 files into one model; each is read on its own (to read them"
                            " merged: docker compose config | rofs audit -)")]


def test_a_mixed_diff_names_every_file_absolutely_and_applies(tmp_path):
    """One file here, one above: one `patch -p1 -d /` applies both."""
    patch = require_tool("patch")
    (tmp_path / "here").mkdir()
    here, up = tmp_path / "here" / "compose.yaml", tmp_path / "up.yaml"
    for f in (here, up):
        f.write_text("services:\n  cache:\n    image: redis:7.4\n")
    diff = subprocess.run([ROFS, "fix", "--diff", "compose.yaml", "../up.yaml"], cwd=tmp_path / "here",
                          capture_output=True, text=True)
    assert diff.returncode == 1, diff.stderr
    assert f"--- {here}\n" in diff.stdout and f"--- {up}\n" in diff.stdout
    subprocess.run([patch, "-p1", "-d", "/"], input=diff.stdout, text=True, check=True, capture_output=True)
    assert all(yaml.safe_load(f.read_text())["services"]["cache"]["read_only"] is True for f in (here, up))


def test_extends_does_not_bring_the_volumes_a_file_declares(tmp_path):
    """compose-spec: extends does not import the extended file's volume declarations, so a named
    volume the extended service mounts must be declared by the extending file too (RO205)."""
    project(tmp_path, {
        "common.yaml": "services:\n  base:\n    image: redis:7.4\n    read_only: true\n"
                       "    volumes: ['data:/data']\nvolumes:\n  data: {}\n",
        "compose.yaml": "services:\n  cache:\n    extends: {file: common.yaml, service: base}\n",
    })
    found = findings(tmp_path / "compose.yaml", select={"RO205"})
    assert found == [("common.yaml", 5, "RO205", "cache")], found
    # and the root it makes read-only relies on no override: no note about one
    project(tmp_path / "b", {"common.yaml": "services:\n  base:\n    image: nginx:1.25\n"
                                            "    tmpfs: [/run:size=1m, /var/cache/nginx:size=1g]\n",
                             "compose.yaml": "services:\n  web:\n    extends: {file: common.yaml, service: base}\n"})
    result = fixed(tmp_path / "b" / "compose.yaml")["compose.yaml"]
    assert yaml.safe_load(result.fixed)["services"]["web"]["read_only"] is True
    assert not any("made read-only with the mounts" in n for n in result.notes), result.notes
