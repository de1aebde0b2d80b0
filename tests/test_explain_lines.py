"""`rofs explain` scored on real log lines from public issues and docs (tests/data/logs/lines.yaml:
each line with its source and the expected cause, path and app).  Dangerous advice (a volume at
/ or at a system directory) must never happen; the other figures are floors that a change may
raise and must not lower.  The lines the rebuilt official images printed with a required path
read-only (tests/data/logs/recorded.yaml, tests/official/record_lines.py) must each be explained
exactly, with no --app."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from rofs.diagnose import NOT_A_MOUNT, diagnose
from rofs.diagnose.placement import refused
from rofs.profiles import builtin_registry

REGISTRY = builtin_registry()
LINES = yaml.safe_load((Path(__file__).parent / "data" / "logs" / "lines.yaml").read_text(encoding="utf-8"))["lines"]
CAUSES = {"read-only", "no-temp-dir", "shm-too-small", "no-space", "permission", "not-a-mount", "follow-on", "other"}
# rofs' causes, in the set's words
AS_SET = {"read-only-as-enoent": "read-only", "heap-dump": "read-only", "in-place-edit": NOT_A_MOUNT,
          "host-mount-source": "other"}
# the same program under another name, or a client relaying its server's error
SAME_APP = {"mongod": {"mongodb"}, "valkey": {"redis"}, "grafana-cli": {"grafana"}, "npm": {"node"},
            "initdb": {"postgres"}, "pg_ctl": {"postgres"}, "ruby": {"postgres"}, "go": {"postgres"}}
# tools that act in an app's directory: naming the app whose directory it is, is right
TOOLS = {"sh", "bash", "busybox", "sed", "chown", "chmod", "touch", "cp", "mv", "ln", "mkdir", "mktemp"}


def _norm(path: str | None) -> str | None:
    if path is None:
        return None
    path = "/run" + path[len("/var/run"):] if path == "/var/run" or path.startswith("/var/run/") else path
    return path.rstrip("/") or "/"


def score() -> tuple[Counter, list[str]]:
    out: Counter = Counter()
    wrong: list[str] = []
    for entry in LINES:
        found = list(diagnose([entry["line"]], REGISTRY))
        d = found[0] if found else None
        mount = _norm(d.mount) if d else None
        cause = AS_SET.get(d.cause, d.cause) if d else None
        want = _norm(entry["path"])
        out["lines"] += 1
        path_ok = mount == want
        if entry["cause"] in ("follow-on", "other"):
            cause_ok = True
        elif entry["cause"] == NOT_A_MOUNT:
            cause_ok = mount is None
        else:
            cause_ok = cause == entry["cause"]
        out["right path"] += path_ok
        out["right cause and path"] += path_ok and cause_ok
        if mount is not None and (mount == "/" or refused(mount) is not None):
            out["dangerous"] += 1
            wrong.append(f"dangerous: {entry['line']!r} -> {mount}")
        if mount is not None and entry["cause"] in (NOT_A_MOUNT, "follow-on"):
            out["a mount where none helps"] += 1
        expected_app = entry["app"]
        if d is not None and d.app and expected_app and d.app != expected_app \
                and d.app not in SAME_APP.get(expected_app, ()) and expected_app not in TOOLS:
            out["wrong app"] += 1
            wrong.append(f"wrong app: {entry['line']!r} -> {d.app} (printed by {expected_app})")
    return out, wrong


def test_the_set_is_real_and_well_formed():
    assert len(LINES) >= 150
    assert len({e["line"] for e in LINES}) == len(LINES)
    for entry in LINES:
        assert entry["source"].startswith("https://"), entry
        assert entry["cause"] in CAUSES, entry
        assert entry["path"] is None or (entry["path"].startswith("/") and refused(entry["path"]) is None), entry
    assert len({e["source"] for e in LINES}) >= 100


@pytest.fixture(scope="module")
def figures():
    return score()


def test_no_advice_is_dangerous(figures):
    counts, wrong = figures
    assert counts["dangerous"] == 0, [w for w in wrong if w.startswith("dangerous")]


def test_the_score_does_not_fall(figures):
    counts, wrong = figures
    n = counts["lines"]
    print(f"explain over {n} real lines: right path {counts['right path'] / n:.1%}, right cause and path"
          f" {counts['right cause and path'] / n:.1%}, dangerous {counts['dangerous']}, a mount where none helps"
          f" {counts['a mount where none helps']}, wrong app {counts['wrong app']}")
    assert counts["right path"] / n >= 0.80
    assert counts["right cause and path"] / n >= 0.74
    assert counts["a mount where none helps"] <= 6
    assert counts["wrong app"] <= 3, [w for w in wrong if w.startswith("wrong app")]


RECORDED = yaml.safe_load((Path(__file__).parent / "data" / "logs" / "recorded.yaml").read_text(encoding="utf-8"))["lines"]


def test_the_recorded_lines_cover_every_official_image_that_fails_at_start():
    assert {e["image"] for e in RECORDED} == {"mariadb", "nginx", "postgres", "rabbitmq", "redis"}
    assert all(e["source"].startswith(f"tests/official/{e['image']} ") for e in RECORDED)


@pytest.mark.parametrize("entry", RECORDED, ids=[f"{e['image']}:{e['path']}:{i}" for i, e in enumerate(RECORDED)])
def test_lines_the_rebuilt_official_images_printed_are_explained_without_help(entry):
    """No --app, no --layout: the line alone names the app and the path that was read-only."""
    (d,) = diagnose([entry["line"]], REGISTRY)
    assert (d.cause, d.app, _norm(d.mount)) == (entry["cause"], entry["app"], _norm(entry["path"])), d
