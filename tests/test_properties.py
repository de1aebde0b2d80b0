"""Property-based tests: generated Kubernetes and Compose documents, odd but valid YAML included.

`audit` never crashes; `fix` output always re-parses, validates, re-audits clean for the rules it
fixes, keeps comments, and a second `fix` changes nothing.  ROFS_PROPERTY_EXAMPLES sets the number
of cases per run (default 12,000: 6,000 Kubernetes and 6,000 Compose, half of each for `fix` and
half for `audit`; about 3 minutes on 2 cores); the counts actually run are printed at the end of the module.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SCHEMAS
from rofs.audit import AuditOptions, iter_audit
from rofs.checks import check_workload
from rofs.fix import FIXABLE, fix_text
from rofs.generate.plan import volume_name_for
from rofs.model import SourceFormat
from rofs.profiles import builtin_registry
from rofs.rules import Context
from rofs.sources.compose import ComposeSource
from rofs.sources.interface import ReadError
from rofs.sources.kubernetes import KubernetesSource

REGISTRY = builtin_registry()
EXAMPLES = int(os.environ.get("ROFS_PROPERTY_EXAMPLES", "12000"))  # cases per run, all tests together
K8S_EXAMPLES = EXAMPLES // 4  # each of the two Kubernetes tests: 3,000
COMPOSE_EXAMPLES = EXAMPLES // 4  # each of the two Compose tests: 3,000
COUNTS: Counter = Counter()


def _settings(n: int):
    return settings(max_examples=max(n, 1), deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    total = sum(v for k, v in COUNTS.items() if "refused" not in k)  # refusals are among the "compose fix" cases
    line = "property cases run: " + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())) + f"; total {total}"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # shown with -q too, passed or not
        reporter.write_line("\n" + line)


IMAGES = ["postgres:16", "redis:7", "nginx:1.27-alpine", "confluentinc/cp-kafka:7.5.0", "python:3.12",
          "registry.example.com/app:1", "bitnami/postgresql:16", "busybox", "eclipse-temurin:17"]
PATHS = ["/tmp", "/data", "/var/lib/postgresql", "/var/lib/postgresql/data", "/var/run/postgresql", "/var/cache/nginx",
         "/run", "/var/lib/kafka/data", "/cache", "/dev/shm"]
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def volume(draw, name):
    kind = draw(st.sampled_from(["emptyDir", "emptyDirSized", "memory", "pvc", "configMap", "hostPath"]))
    if kind == "emptyDir":
        return {"name": name, "emptyDir": {}}
    if kind == "emptyDirSized":
        return {"name": name, "emptyDir": {"sizeLimit": draw(st.sampled_from(["1Mi", "64Mi", "1Gi"]))}}
    if kind == "memory":
        return {"name": name, "emptyDir": {"medium": "Memory"}}
    if kind == "pvc":
        return {"name": name, "persistentVolumeClaim": {"claimName": name}}
    if kind == "configMap":
        return {"name": name, "configMap": {"name": name}}
    return {"name": name, "hostPath": {"path": "/srv/" + name}}


@st.composite
def container(draw, volumes):
    c = {"name": draw(names), "image": draw(st.sampled_from(IMAGES))}
    sec = draw(st.sampled_from([None, {}, {"readOnlyRootFilesystem": True}, {"readOnlyRootFilesystem": False},
                                {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}]))
    if sec is not None:
        c["securityContext"] = sec
    if volumes and draw(st.booleans()):
        c["volumeMounts"] = [{"name": v["name"], "mountPath": draw(st.sampled_from(PATHS))}
                             for v in draw(st.lists(st.sampled_from(volumes), max_size=3, unique_by=lambda v: v["name"]))]
    if draw(st.booleans()):
        c["env"] = [{"name": "TMPDIR", "value": draw(st.sampled_from(["/tmp", "/scratch", "/var/tmp"]))}]
    return c


@st.composite
def workload(draw):
    vnames = draw(st.lists(names, max_size=3, unique=True))
    volumes = [draw(volume(n)) for n in vnames]
    containers = draw(st.lists(container(volumes), min_size=1, max_size=2, unique_by=lambda c: c["name"]))
    pod = {"containers": containers}
    if volumes:
        pod["volumes"] = volumes
    if draw(st.booleans()):
        pod["initContainers"] = [draw(container(volumes))]
        pod["initContainers"][0]["name"] = "init-" + pod["initContainers"][0]["name"]
    if draw(st.booleans()):
        pod["securityContext"] = draw(st.sampled_from([{"runAsNonRoot": True}, {"readOnlyRootFilesystem": True}, {}]))
    kind = draw(st.sampled_from(["Pod", "Deployment", "StatefulSet", "Job"]))
    meta = {"name": draw(names)}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod}
    spec = {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod}}
    if kind == "StatefulSet":
        spec["serviceName"] = "x"
    return {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


@st.composite
def document(draw):
    docs = draw(st.lists(workload(), min_size=1, max_size=2))
    style = draw(st.sampled_from(["block", "flow", "indented-lists", "crlf", "comments"]))
    if style == "flow":
        text = yaml.safe_dump_all(docs, default_flow_style=True, width=60)
    elif style == "indented-lists":
        class Indented(yaml.SafeDumper):
            def increase_indent(self, flow=False, indentless=False):
                return super().increase_indent(flow, False)
        text = yaml.dump_all(docs, Dumper=Indented, sort_keys=False)
    else:
        text = yaml.safe_dump_all(docs, sort_keys=False)
    if style == "comments":
        text = "# a comment\n" + text.replace("\n  ", "  # note\n  ", 1)
    if style == "crlf":
        text = text.replace("\n", "\r\n")
    return text


@_settings(K8S_EXAMPLES)
@given(document())
def test_fix_output_parses_reaudits_clean_and_is_idempotent(text):
    COUNTS["kubernetes fix"] += 1
    result = fix_text(text, "gen.yaml", REGISTRY, set(FIXABLE))
    assert result.error is None, result.error
    list(yaml.safe_load_all(result.fixed))  # parses
    fixed = KubernetesSource().read(result.fixed, "gen.yaml")
    assert not fixed.errors
    again = fix_text(result.fixed, "gen.yaml", REGISTRY, set(FIXABLE))
    assert again.fixed == result.fixed, "a second fix changes nothing"
    ctx = Context(REGISTRY)
    for w in fixed.workloads:
        # What fix applies is gone; a finding that needs a decision (a path held by a read-only
        # mount) stays a suggestion and is left as it was.
        left = [f for f in check_workload(w, ctx, set(FIXABLE)) if f.applicability != "suggestion"]
        assert left == [], [(f.rule, f.message) for f in left]


@_settings(K8S_EXAMPLES)
@given(st.one_of(document(), st.text(max_size=300)))
def test_audit_never_crashes(text):
    COUNTS["kubernetes audit"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "x.yaml"
        f.write_bytes(text.encode("utf-8", "surrogatepass"))
        for report in iter_audit([str(f)], REGISTRY, AuditOptions()):
            assert report.source is not None


# --- Compose --------------------------------------------------------------------------------------

C_IMAGES = ["postgres:16", "redis:7", "nginx:1.27", "python:3.12", "node:20",  # known profiles
            "registry.example.com/app:1", "busybox", "ghcr.io/acme/worker:2.1"]
C_PATHS = ["/tmp", "/data", "/var/lib/postgresql", "/var/lib/postgresql/data", "/var/run/postgresql",
           "/var/cache/nginx", "/run", "/etc/nginx/conf.d", "/home/node/.npm", "/var/cache/app", "/scratch",
           "/dev/shm", "/var/tmp"]
SERVICE_NAMES = ["db", "cache", "web", "app", "worker", "x.y_z"]
VOLUME_NAMES = ["data", "pgdata", "cache", "shared"]
# Names the fixer picks (`<service>-<path as a name>`): declared up front, they must not be reused.
TAKEN_NAMES = sorted({f"{s}-{volume_name_for(p)}" for s in SERVICE_NAMES[:3]
                      for p in ["/data", "/tmp", "/var/lib/postgresql", "/var/lib/postgresql/data", "/run",
                                "/var/run/postgresql", "/var/cache/nginx", "/scratch"]})
COMPOSE_SCHEMA = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))
# Keys a Compose fix may change in a service; everything else must load exactly as before.
FIX_KEYS = {"read_only", "volumes", "tmpfs", "shm_size"}


class Merge:
    """The ``<<`` merge key of a mapping (its value: a shared mapping, dumped as an alias)."""


MERGE = Merge()


@st.composite
def c_mount(draw, path, volume_names):
    """One mount at *path*: ("tmpfs", short entry) or ("volumes", item); named volumes go into *volume_names*."""
    kind = draw(st.sampled_from(["tmpfs", "tmpfs-sized", "tmpfs-long", "tmpfs-long-sized", "named", "named-long",
                                 "bind", "bind-long", "anonymous"]))
    if kind == "tmpfs":
        return "tmpfs", path
    if kind == "tmpfs-sized":
        return "tmpfs", path + draw(st.sampled_from([":size=64m", ":size=1g,mode=1777", ":mode=1777", ":size=65536"]))
    if kind.startswith("tmpfs-long"):
        item = {"type": "tmpfs", "target": path}
        if kind.endswith("sized"):
            item["tmpfs"] = {"size": draw(st.sampled_from([67108864, "64m", "1g"]))}
        elif draw(st.booleans()):
            item["tmpfs"] = {"mode": 1777}
        return "volumes", item
    if kind.startswith("named"):
        name = draw(st.sampled_from(VOLUME_NAMES + TAKEN_NAMES[:2]))
        volume_names.add(name)
        if kind == "named":
            return "volumes", f"{name}:{path}" + draw(st.sampled_from(["", ":ro", ":rw", ":nocopy"]))
        return "volumes", {"type": "volume", "source": name, "target": path}
    if kind == "bind":
        return "volumes", f"./{path.strip('/').replace('/', '-')}:{path}" + draw(st.sampled_from(["", ":ro", ":z"]))
    if kind == "bind-long":
        item = {"type": "bind", "source": "./host", "target": path}
        if draw(st.booleans()):
            item["read_only"] = True
        return "volumes", item
    return "volumes", path


@st.composite
def c_settings(draw, paths, volume_names):
    """Service settings: image, read_only, mounts at some of *paths*, user, capabilities, environment..."""
    svc: dict = {}
    choice = draw(st.integers(0, 9))
    if choice == 0:
        svc["build"] = "./app"
    elif choice > 1:  # 1: no image (from a merge)
        svc["image"] = draw(st.sampled_from(C_IMAGES))
    ro = draw(st.sampled_from(["absent", True, False, "${READ_ONLY:-false}"]))
    if ro != "absent":
        svc["read_only"] = ro
    tmpfs, volumes = [], []
    for path in draw(st.lists(st.sampled_from(paths), max_size=4, unique=True)):
        where, item = draw(c_mount(path, volume_names))
        (tmpfs if where == "tmpfs" else volumes).append(item)
    if tmpfs:
        svc["tmpfs"] = tmpfs[0] if len(tmpfs) == 1 and draw(st.booleans()) else tmpfs
    if volumes:
        svc["volumes"] = volumes
    elif draw(st.integers(0, 9)) == 0:
        svc["volumes"] = []
    for key, options in (
        ("user", ["1000", "1000:1000", "root", "postgres", "0"]),
        ("cap_drop", [["ALL"], ["NET_RAW", "ALL"]]),
        ("security_opt", [["no-new-privileges:true"], ["no-new-privileges=true", "seccomp=unconfined"],
                          ["label=disable"]]),
        ("shm_size", ["64m", 268435456]),
        ("command", [["redis-server", "--appendonly", "yes"], "sleep infinity"]),
    ):
        if draw(st.booleans()):
            svc[key] = draw(st.sampled_from(options))
    env = draw(st.sampled_from(["absent", "list", "map"]))
    tmpdir = draw(st.sampled_from([None, "/tmp", "/scratch", "/var/tmp", "/data/tmp", "${TMP:-/tmp}"]))
    if env == "list":
        svc["environment"] = ["FOO=bar", "EMPTY"] + ([f"TMPDIR={tmpdir}"] if tmpdir else [])
    elif env == "map":
        svc["environment"] = {"FOO": "bar", "N": 1, "UNSET": None, **({"TMPDIR": tmpdir} if tmpdir else {})}
    if draw(st.integers(0, 4)) == 0:
        svc["x-note"] = {"owner": "team"}
    return svc


@st.composite
def compose_doc(draw, share_mounts=False):
    """A Compose file as a dict; a value used twice is dumped as an anchor and its alias(es).
    *share_mounts*: services may share one `volumes:` list (the fix refuses those: see the fixer)."""
    volume_names: set[str] = set()
    doc: dict = {}
    paths = list(C_PATHS)
    defaults = None
    if draw(st.integers(0, 2)) == 0:  # a shared `x-defaults: &anchor`, merged into some services
        defaults = draw(c_settings(C_PATHS, volume_names))
        defaults.pop("x-note", None)
        taken = _targets(defaults)
        paths = [p for p in C_PATHS if p not in taken]
        doc["x-defaults"] = defaults
    if draw(st.booleans()):
        doc["x-common"] = {"logging": {"driver": "json-file"}}
    names_ = draw(st.lists(st.sampled_from(SERVICE_NAMES), min_size=1, max_size=3, unique=True))
    services: dict = {}
    for name in names_:
        first = services[names_[0]] if services else None
        # what this service merges: nothing, the x-defaults, the first service (`<<: *db`), or both
        # (`<<: [*defaults, *db]`)
        source = draw(st.sampled_from([None, None, defaults, first] + ([[defaults, first]] if defaults and first else [])))
        own_paths = [p for p in paths if p not in _targets(first)] if first is not None and (
            source is first or isinstance(source, list)) else paths
        svc = draw(c_settings(own_paths, volume_names))
        sources = source if isinstance(source, list) else [source] if source is not None else []
        if not {"image", "build"} & set(svc).union(*sources):  # an image of its own, or merged
            svc["image"] = draw(st.sampled_from(C_IMAGES))
        if first is not None and isinstance(first.get("environment"), (list, dict)) and draw(st.booleans()):
            svc["environment"] = first["environment"]  # an anchored list or mapping, and its alias
        if share_mounts and first is not None and first.get("volumes") and draw(st.booleans()):
            svc.pop("tmpfs", None)
            svc["volumes"] = first["volumes"]
        if source is not None:
            svc = {MERGE: source, **svc} if draw(st.booleans()) else {**svc, MERGE: source}
        services[name] = svc
    if len(names_) < len(SERVICE_NAMES) and draw(st.integers(0, 5)) == 0:  # `other: *svc`, the same mapping
        services[next(n for n in SERVICE_NAMES if n not in services)] = services[names_[0]]
    doc["services"] = services
    declared = set(draw(st.lists(st.sampled_from(TAKEN_NAMES), max_size=3))) | volume_names
    if declared or draw(st.booleans()):
        doc["volumes"] = {n: draw(st.sampled_from([None, {}, {"driver": "local"}, {"labels": {"a": "b"}},
                                                    {"driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}}]))
                          for n in sorted(declared)}
    if draw(st.booleans()):  # top-level keys in another order
        doc = dict(reversed(list(doc.items())))
    return doc


def _targets(svc: dict) -> set[str]:
    """The mount targets of a service's own `tmpfs:` and `volumes:` (short syntax: `[SOURCE:]TARGET[:MODE]`)."""
    tmpfs = svc.get("tmpfs", [])
    out = {t.split(":")[0] for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    for item in svc.get("volumes", []):
        if isinstance(item, dict):
            out.add(item["target"])
        else:
            parts = item.split(":")
            out.add(parts[0] if len(parts) == 1 or parts[0].startswith("/") else parts[1])
    return out


class ComposeDumper(yaml.SafeDumper):
    key_style = None
    indent_lists = False

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, indentless and not self.indent_lists)

    def ignore_aliases(self, data):
        return isinstance(data, Merge) or super().ignore_aliases(data)

    def represent_mapping(self, tag, mapping, flow_style=None):
        node = super().represent_mapping(tag, mapping, flow_style)
        if self.key_style:
            for knode, _ in node.value:
                if knode.tag == "tag:yaml.org,2002:str":
                    knode.style = self.key_style
        return node


ComposeDumper.add_representer(Merge, lambda dumper, _: yaml.ScalarNode("tag:yaml.org,2002:merge", "<<"))


def _commented(text: str) -> str:
    """Comments on their own lines (before top-level and service keys) and after keys and images."""
    out, n = ["# generated compose file"], 0
    for line in text.split("\n"):
        stripped = line.lstrip(" -")
        key = stripped.split(":", 1)[0].strip("\"'")
        indent = len(line) - len(line.lstrip(" "))
        if line and indent in (0, 2) and not line.lstrip().startswith(("-", "#")):
            n += 1
            out.append(" " * indent + f"# c{n} own line")
        if key != "tmpfs" and (line.endswith(":") or key == "image"):
            n += 1
            line += f"  # c{n}"
        out.append(line)
    return "\n".join(out)


@st.composite
def compose_text(draw, share_mounts=False):
    doc = draw(compose_doc(share_mounts))
    shape = draw(st.sampled_from(["block", "block", "flow", "mixed"]))
    ComposeDumper.key_style = draw(st.sampled_from([None, None, '"', "'"]))
    ComposeDumper.indent_lists = draw(st.booleans())
    text = yaml.dump(doc, Dumper=ComposeDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style={"block": False, "flow": True, "mixed": None}[shape],
                     width=60 if shape == "flow" else 4096, explicit_start=draw(st.integers(0, 4)) == 0)
    if shape != "flow" and draw(st.booleans()):
        text = _commented(text)
    if draw(st.integers(0, 5)) == 0:
        text = text.rstrip("\n")  # no final newline
    if draw(st.integers(0, 3)) == 0:
        text = text.replace("\n", "\r\n")
    if draw(st.integers(0, 4)) == 0:
        text = "\ufeff" + text
    return doc, text


def _target_list(svc: dict) -> list[str]:
    """Mount targets of a loaded service, in `tmpfs:` and `volumes:` (duplicates kept)."""
    tmpfs = svc.get("tmpfs") or []
    out = [t.split(":")[0] for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)]
    for item in svc.get("volumes") or []:
        if isinstance(item, dict):
            out.append(item["target"])
        else:
            parts = item.split(":")
            out.append(parts[0] if len(parts) == 1 or parts[0].startswith("/") else parts[1])
    return out


def _targets(svc: dict) -> set[str]:
    return set(_target_list(svc))


class SpecLoader(yaml.SafeLoader):
    """Merge keys as the YAML spec (and Compose, and rofs's reader) have them: own keys win, then
    the first mapping of `<<: [*a, *b]`.  PyYAML lets the last one win, not always."""

    def flatten_mapping(self, node):
        own, merged = [], []
        for knode, vnode in node.value:
            if knode.tag != "tag:yaml.org,2002:merge":
                own.append((knode, vnode))
                continue
            for source in vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]:
                self.flatten_mapping(source)
                merged.extend(source.value)
        seen = {k.value for k, _ in own}
        inherited = []
        for knode, vnode in merged:
            if knode.value not in seen:
                seen.add(knode.value)
                inherited.append((knode, vnode))
        node.value = inherited + own


def _load(text: str):
    return yaml.load(text, Loader=SpecLoader)


COMMENT = re.compile(r"# c\d+\b")
REFUSED = "other services merge it (<<)"


@_settings(COMPOSE_EXAMPLES)
@given(compose_text())
def test_compose_fix_output_validates_reaudits_clean_keeps_the_rest_and_is_idempotent(case):
    COUNTS["compose fix"] += 1
    _, text = case
    before = _load(text)
    assert list(COMPOSE_SCHEMA.iter_errors(before)) == [], "the generator writes valid Compose"
    result = fix_text(text, "compose.yaml", REGISTRY, set(FIXABLE))
    if result.error is not None and REFUSED in result.error:
        # Intended: a tmpfs of a service that others merge (`<<: *db`) is not moved in place, since
        # that would change those services too; the file is left as it was, with the reason.
        COUNTS["compose fix (refused: merged service)"] += 1
        assert result.fixed == text
        return
    assert result.error is None, result.error
    assert result.format is SourceFormat.COMPOSE
    after = _load(result.fixed)  # parses
    assert [e.message for e in COMPOSE_SCHEMA.iter_errors(after)] == []
    fixed = ComposeSource().read(result.fixed, "compose.yaml")
    assert fixed.errors == []
    ctx = Context(REGISTRY)
    for w in fixed.workloads:
        # Not fixable: a path the app writes at or beneath a mount the user made read-only (Compose
        # allows one mount per path, and none beneath a read-only one): the rule makes it a suggestion.
        left = [f for f in check_workload(w, ctx, set(FIXABLE)) if f.applicability != "suggestion"]
        assert left == [], [(w.name, f.rule, f.message) for f in left]
    again = fix_text(result.fixed, "compose.yaml", REGISTRY, set(FIXABLE))
    assert again.fixed == result.fixed, "a second fix changes nothing"
    # comments, the BOM and the line endings survive
    assert COMMENT.findall(result.fixed) == COMMENT.findall(text)
    assert result.fixed.startswith("\ufeff") == text.startswith("\ufeff")
    if "\r\n" in text:
        assert "\n" not in result.fixed.replace("\r\n", ""), "CRLF kept"
    # only the keys a fix is about change; no mount is lost or doubled
    assert {k: v for k, v in before.items() if k not in ("volumes", "services")} == {
        k: v for k, v in after.items() if k not in ("volumes", "services")}
    for name, declaration in (before.get("volumes") or {}).items():
        assert after["volumes"][name] == declaration
    for name, svc in before["services"].items():
        new = after["services"][name]
        assert {k: v for k, v in svc.items() if k not in FIX_KEYS} == {k: v for k, v in new.items() if k not in FIX_KEYS}
        assert _targets(svc) <= _targets(new), f"service {name} lost a mount"
        assert len(_target_list(new)) == len(_targets(new)), f"service {name}: a target mounted twice"


def _damaged(text: str, cut: int, length: int) -> str:
    cut = cut % (len(text) + 1)
    return text[:cut] + text[cut + length:]


@_settings(COMPOSE_EXAMPLES)
@given(st.one_of(
    compose_text(share_mounts=True).map(lambda case: (case[1], True)),
    st.builds(_damaged, compose_text().map(lambda case: case[1]), st.integers(0, 5000), st.integers(1, 40))
    .map(lambda text: (text, False)),
    st.text(max_size=300).map(lambda text: (text, False)),
), st.sampled_from(["compose.yaml", "docker-compose.yml", "stack.yaml"]))
def test_compose_audit_never_crashes(case, name):
    """Errors are ReadErrors (a line and a message), never an exception; a valid file reads without any."""
    COUNTS["compose audit"] += 1
    text, valid = case
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / name
        f.write_bytes(text.encode("utf-8", "surrogatepass"))
        for report in iter_audit([str(f)], REGISTRY, AuditOptions()):
            assert report.source is not None
            assert all(isinstance(e, ReadError) for e in report.source.errors), report.source.errors
            if valid:
                assert report.source.format is SourceFormat.COMPOSE
                assert report.source.errors == []
                assert report.source.objects == len(yaml.safe_load(text)["services"])
