"""Bad input, case by case, through the commands a user runs: ``audit``, ``fix`` and ``explain``.

Each case says what the user gets: the exit code, the one line that says what is wrong (file
and line where there is one), no traceback, and, for ``fix``, the file left as it was.  The
200 MB cases run the real commands on real 200 MB inputs and check the peak memory of the
process that did the work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import in_ci

ROFS = str(Path(sys.executable).with_name("rofs"))
MB = 1 << 20

# Prints the peak RSS (KiB) of the command it runs, on its last stderr line.
MEASURE = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:])\n"
    "print('maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(r.returncode)\n"
)


def rofs(*args: str, input: str | bytes | None = None, cwd=None, timeout: float = 120, prefix=()):
    data = input.encode() if isinstance(input, str) else input
    result = subprocess.run([*prefix, ROFS, *args], input=data, capture_output=True, cwd=cwd, timeout=timeout)
    return result.returncode, result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")


def measured(*args: str, stdin=None, stdout=None, timeout: float = 600) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, peak RSS in MiB) of ``rofs ARGS``."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", MEASURE, ROFS, *args], stdin=stdin,
                            stdout=stdout if stdout is not None else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, timeout=timeout)
    took = time.monotonic() - start
    err = result.stderr.decode("utf-8", "replace")
    *rest, last = err.rstrip("\n").split("\n")
    assert last.startswith("maxrss "), err
    return result.returncode, "\n".join(rest), took, int(last.split()[1]) // 1024


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("rofs: error:")]


def one_clear_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    (line,) = error_lines(stderr)
    return line


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


POD = """apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  containers:
    - name: postgres
      image: postgres:16
"""


# --- the matrix: one file, both commands -------------------------------------------------

# (id, file name, content, expected line of the error or None, text the error must contain)
ERRORS = [
    ("invalid-yaml", "bad.yaml", b"apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", 4,
     "invalid YAML: did not find expected ',' or '}'"),
    ("invalid-json", "bad.json", b'{"apiVersion": "v1", "kind": "Pod",\n "spec": {"containers": [}\n', 2, "invalid YAML"),
    ("deep-nesting", "deep.yaml",
     ("apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
     5, "exceeded maximum nesting depth"),
    ("tabs", "tabs.yaml", b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n\t- name: a\n", 6,
     "found character that cannot start any token"),
    ("containers-a-string", "c.yaml", b'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: "x"\n', 5,
     "containers should be a list, found a value ('x')"),
    ("securityContext-a-list", "sc.yaml",
     b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: b\n      securityContext: []\n",
     8, "securityContext should be a mapping, found a list"),
    ("helm-template", "deploy.yaml",
     (b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n"
      b"      containers:\n        - name: a\n          image: {{ .Values.image }}\n"),
     None, "unrendered Helm template ({{ ... }}): render it with `helm template` first"),
    ("helm-control-line", "svc.yaml",
     b"{{- if .Values.enabled }}\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n{{- end }}\n",
     None, "render it with `helm template` first"),
    # a key written twice: Compose and kubectl refuse the file; reading one of them would audit (and
    # fix) something else than what runs
    ("compose-service-twice", "compose.yaml",
     b"services:\n  web:\n    image: nginx:1.27\n  redis:\n    image: redis:7\n  web:\n    image: postgres:16\n", 6,
     "key 'web' is written twice in one mapping (first at line 2): docker compose refuses such a file"),
    ("pod-key-twice", "pod.yaml",
     (b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: b\n"
     b"      securityContext: {readOnlyRootFilesystem: true}\n      securityContext: {privileged: true}\n"), 9,
     "key 'securityContext' is written twice in one mapping (first at line 8): kubectl (strict field validation, its default) and kustomize refuse"),
    ("binary", "blob.yaml", b"\x00\x01\x02\x03binary", None, "binary: not read"),
    ("not-utf8", "latin1.yaml", "metadata:\n  name: caf\u00e9\n".encode("latin-1"), None, "not UTF-8 (byte 21): not read"),
]


@pytest.mark.parametrize("command", ["audit", "fix", "fix --diff"])
@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_bad_files_get_one_clear_line_and_exit_2(tmp_path: Path, case, command):
    _, name, content, line, text = case
    f = tmp_path / name
    f.write_bytes(content)
    before = digest(f)
    code, out, err = rofs(*command.split(), str(f), timeout=30)
    assert code == 2, (out, err)
    message = one_clear_error(err)
    where = f"rofs: error: {f}:{line}:" if line else f"rofs: error: {f}"
    assert message.startswith(where), message
    assert text in message, message
    assert digest(f) == before, "a file that cannot be fixed is never touched"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "nothing written beside it"


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path):
    (tmp_path / "a-bad.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    (tmp_path / "b-pod.yaml").write_text(POD)
    code, out, err = rofs("audit", str(tmp_path))
    assert code == 2 and f"{tmp_path}/b-pod.yaml:7:7 RO101" in out
    assert one_clear_error(err).startswith(f"rofs: error: {tmp_path}/a-bad.yaml:4: invalid YAML")
    code, out, err = rofs("fix", str(tmp_path))
    assert code == 2 and f"fixed {tmp_path}/b-pod.yaml" in err
    assert "readOnlyRootFilesystem: true" in (tmp_path / "b-pod.yaml").read_text()


@pytest.mark.parametrize("command", ["audit", "fix"])
def test_alias_bomb_costs_its_size(tmp_path: Path, command):
    f = tmp_path / "bomb.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\nspec:\n  containers: [{name: x, image: redis:7.4}]\n"
        + "".join(f"  l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(10))
    )
    code, err, took, rss = measured(command, str(f), timeout=60)
    assert code == 1 and "Traceback" not in err
    assert took < 20 and rss < 300, f"{took:.1f} s, {rss} MiB for a 1 KB file expanding to 9**10 items"


def test_binary_and_non_utf8_in_a_directory_are_skipped_with_a_reason(tmp_path: Path):
    (tmp_path / "blob.yaml").write_bytes(b"\x00\x01binary")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    (tmp_path / "pod.yaml").write_text(POD)
    code, out, err = rofs("audit", str(tmp_path))
    assert code == 1 and not error_lines(err)
    assert "skipped 2 (1 (binary), 1 (not UTF-8 (byte 9)))" in out or (
        "1 (binary)" in out and "1 (not UTF-8 (byte 9))" in out
    ), out


@pytest.mark.parametrize(
    "name, content, note",
    [("empty.yaml", b"", "empty"), ("docs.yaml", b"---\n---\n...\n", "empty"),
     ("values.yaml", b"replicas: 3\nimage: nginx\n", "not Kubernetes or Compose")],
)
def test_empty_and_unrelated_files_named_on_the_command_line_say_so(tmp_path: Path, name, content, note):
    """Named one by one, as pre-commit names every staged YAML file: no manifest is no failure, and
    it is said with --verbose only (a workflow file or a chart's values are plainly not manifests)."""
    f = tmp_path / name
    f.write_bytes(content)
    code, out, err = rofs("audit", str(f))
    assert code == 0 and err.strip() == "", err
    code, out, err = rofs("audit", "--verbose", str(f))
    assert code == 0 and err.strip() == f"rofs: {f}: skipped: {note}"
    code, out, err = rofs("fix", str(f))
    assert code == 0 and not error_lines(err) and f.read_bytes() == content


def _without_dac(tmp_path: Path) -> tuple[str, ...]:
    """Root reads everything: run rofs without the capabilities that bypass file modes."""
    if shutil.which("setpriv") is None:
        if in_ci():
            pytest.fail("setpriv (util-linux) is needed")
        pytest.skip("setpriv (util-linux) is needed")
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


def test_unreadable_files_and_directories(tmp_path: Path):
    prefix = _without_dac(tmp_path)
    tree = tmp_path / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "pod.yaml").write_text(POD)
    (tree / "secret.yaml").write_text(POD)
    (tree / "pod.yaml").write_text(POD)
    (tree / "locked").chmod(0)
    (tree / "secret.yaml").chmod(0)
    try:
        for command in (["audit"], ["fix"]):
            code, out, err = rofs(*command, str(tree), prefix=prefix)
            assert code == 2, (out, err)
            assert "Traceback" not in err
            assert sorted(error_lines(err)) == [
                f"rofs: error: {tree}/locked: cannot read directory: Permission denied",
                f"rofs: error: {tree}/secret.yaml: cannot read: Permission denied",
            ]
        assert "readOnlyRootFilesystem: true" in (tree / "pod.yaml").read_text(), "the readable file is still fixed"
        code, out, err = rofs("audit", str(tree / "secret.yaml"), prefix=prefix)
        assert code == 2 and one_clear_error(err) == f"rofs: error: {tree}/secret.yaml: cannot read: Permission denied"
    finally:
        (tree / "locked").chmod(0o755)
        (tree / "secret.yaml").chmod(0o644)
    assert (tree / "secret.yaml").read_text() == POD


def test_symlink_loops_and_links_out_of_the_tree_are_not_followed_by_fix(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pod.yaml").write_text(POD)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "out.yaml").symlink_to(outside / "pod.yaml")
    (tree / "loop").symlink_to(tree)
    (tree / "self.yaml").symlink_to(tree / "self.yaml")
    (tree / "pod.yaml").write_text(POD)
    code, out, err = rofs("fix", str(tree), timeout=30)
    assert code == 1 and not error_lines(err), err
    assert (outside / "pod.yaml").read_text() == POD, "a file outside the tree was changed"
    assert "readOnlyRootFilesystem: true" in (tree / "pod.yaml").read_text()
    code, out, err = rofs("audit", str(tree), timeout=30)
    assert code == 1 and f"{tree}/pod.yaml" in out and "out.yaml" not in out and "self.yaml" not in out


def test_helm_chart_templates_are_skipped_in_a_scan(tmp_path: Path):
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.0.0\n")
    template = chart / "templates" / "deploy.yaml"
    template.write_text('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n'
                        '    app: "{{ .Release.Name }}"\n')
    code, out, err = rofs("audit", str(tmp_path))
    assert "skipped 1 (Helm chart template (render it with helm template))" in out
    assert code == 2 and one_clear_error(err) == (
        f"rofs: error: no Kubernetes manifest, Compose file or Dockerfile in {tmp_path} (1 Helm chart template (render"
        " it with helm template); 1 not Kubernetes or Compose): name the files, or render templates first"
        " (helm template, kustomize build)"), "a scan that checked nothing is no pass"
    (tmp_path / "pod.yaml").write_text(POD)
    code, out, err = rofs("audit", str(tmp_path))
    assert code == 1 and not error_lines(err), err
    for command in ("audit", "fix", "fix --diff"):
        empty = tmp_path / "empty"
        empty.mkdir(exist_ok=True)
        (empty / "values.yaml").write_text("replicas: 2\n")
        code, out, err = rofs(*command.split(), str(empty))
        assert code == 2 and one_clear_error(err).startswith(
            f"rofs: error: no Kubernetes manifest, Compose file or Dockerfile in {empty}"), (command, err)
        # `helm template ./chart | rofs audit -` after a failed helm: nothing on stdin is no pass either
        code, out, err = rofs(*command.split(), "-", input="")
        assert code == 2 and one_clear_error(err).startswith(
            "rofs: error: no Kubernetes manifest, Compose file or Dockerfile in stdin"), (command, err)
    # named (pre-commit names a chart's templates with the rest): skipped with how to check it, exit 0
    code, out, err = rofs("audit", str(template))
    assert code == 0 and err.strip() == (
        f"rofs: {template}: skipped: a template of the Helm chart in {chart} (line 6): check the rendered chart,"
        f" `helm template {chart} | rofs audit -`"), err


def test_json_crlf_bom_stay_what_they_were(tmp_path: Path):
    import json

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cache"},
           "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}
    j = tmp_path / "pod.json"
    j.write_text(json.dumps(pod, indent=4) + "\n")
    code, out, err = rofs("fix", str(j))
    assert code == 1 and not error_lines(err)
    fixed = json.loads(j.read_text())  # still JSON
    assert fixed["kind"] == "List" and [i["kind"] for i in fixed["items"]] == ["Pod", "PersistentVolumeClaim"]
    assert fixed["items"][0]["spec"]["containers"][0]["securityContext"] == {"readOnlyRootFilesystem": True}
    assert rofs("audit", str(j), "--select", "RO101,RO201")[0] == 0
    assert rofs("fix", str(j))[0] == 0, "a second fix changes nothing"

    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(("\ufeff" + POD).replace("\n", "\r\n").encode())
    code, out, err = rofs("fix", str(crlf))
    data = crlf.read_bytes()
    assert code == 1 and data.startswith(b"\xef\xbb\xbf") and b"\n" not in data.replace(b"\r\n", b"")
    assert b"readOnlyRootFilesystem: true\r\n" in data
    assert rofs("audit", str(crlf), "--select", "RO101,RO201")[0] == 0


# --- explain ----------------------------------------------------------------------------

NGINX_LINE = '2026/11/27 10:00:01 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)\n'


@pytest.mark.parametrize(
    "name, content",
    [
        ("plain.log", NGINX_LINE.encode()),
        ("crlf-bom.log", ("\ufeff" + NGINX_LINE.replace("\n", "\r\n")).encode()),
        ("noise.log", b"\xff\xfe garbage \xc3\x28\n" + NGINX_LINE.encode()),
        ("docker-stream.log", b"\x02\x00\x00\x00" + len(NGINX_LINE).to_bytes(4, "big") + NGINX_LINE.encode()),
        ("long-line.log", b"x" * (3 * MB) + b"\n" + NGINX_LINE.encode()),
    ],
)
def test_explain_reads_odd_logs(tmp_path: Path, name, content):
    f = tmp_path / name
    f.write_bytes(content)
    code, out, err = rofs("explain", str(f), "--format", "json")
    assert code == 1 and "Traceback" not in err, err
    import json

    (found,) = json.loads(out)
    assert (found["mount"], found["app"], found["kind"]) == ("/var/cache/nginx", "nginx", "ephemeral")


@pytest.mark.parametrize(
    "setup, message",
    [
        ("binary", "binary file (a NUL byte at offset 4), not a log"),
        ("directory", "cannot read: Is a directory"),
        ("missing", "cannot read: No such file or directory"),
    ],
)
def test_explain_bad_input(tmp_path: Path, setup, message):
    f = tmp_path / "in.log"
    if setup == "binary":
        f.write_bytes(b"\x7fELF\x00\x01\x02")
    elif setup == "directory":
        f.mkdir()
    code, out, err = rofs("explain", str(f))
    assert code == 2 and one_clear_error(err) == f"rofs: error: {f}: {message}"


def test_explain_empty_input_and_bad_manifest(tmp_path: Path):
    code, out, err = rofs("explain", "-", input="")
    assert code == 0 and err.strip() == "rofs explain: no failed write found in the log"
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    log = tmp_path / "crash.log"
    log.write_text(NGINX_LINE)
    code, out, err = rofs("explain", str(log), "--manifest", str(manifest))
    assert code == 2 and one_clear_error(err).startswith(f"rofs: error: {manifest}:4: invalid YAML")


def test_explain_unreadable_log(tmp_path: Path):
    prefix = _without_dac(tmp_path)
    f = tmp_path / "crash.log"
    f.write_text(NGINX_LINE)
    f.chmod(0)
    code, out, err = rofs("explain", str(f), prefix=prefix)
    assert code == 2 and one_clear_error(err) == f"rofs: error: {f}: cannot read: Permission denied"


# --- 200 MB ---------------------------------------------------------------------------------

BIG = 200 * MB


def _unit(blob: str) -> str:
    """A ConfigMap of ~1 MB and a Deployment rofs has a profile for (objects of a real dump),
    as two documents with ``IDX`` where the unit's number goes."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dashboards-IDX"}, "data": {"big.json": blob}}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-IDX"},
              "spec": {"selector": {"matchLabels": {"app": "web-IDX"}},
                       "template": {"metadata": {"labels": {"app": "web-IDX"}},
                                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}
    return yaml.safe_dump(config, width=200) + "---\n" + yaml.safe_dump(deploy, sort_keys=False)


@pytest.fixture(scope="module")
def big_stream(tmp_path_factory) -> Path:
    """200 MB: half separate documents (``helm template``), half one List (``kubectl get -o yaml``)."""
    path = tmp_path_factory.mktemp("big") / "cluster.yaml"
    line = '{"panels": [{"type": "graph", "title": "requests", "targets": [{"expr": "rate(http_requests_total[5m])"}]}]}'
    blob = "\n".join([line] * (MB // len(line))) + "\n"
    unit = _unit(blob)
    item = "".join("- " + doc.replace("\n", "\n  ").rstrip(" ") for doc in unit.split("---\n"))
    with open(path, "w") as out:
        i = 0
        while out.tell() < BIG // 2:
            out.write("---\n" + unit.replace("IDX", str(i)))
            i += 1
        out.write("---\napiVersion: v1\nitems:\n")
        while out.tell() < BIG:
            out.write(item.replace("IDX", str(i)))
            i += 1
        out.write('kind: List\nmetadata:\n  resourceVersion: ""\n')
    path.with_suffix(".units").write_text(str(i))
    return path


def test_a_200_mb_stream_is_audited_in_bounded_memory(big_stream: Path):
    units = int(big_stream.with_suffix(".units").read_text())
    report = big_stream.with_name("report.json")
    code, err, took, rss = measured("audit", str(big_stream), "--select", "RO101", "--format", "json", "-o", str(report))
    import json

    data = json.loads(report.read_text())
    assert code == 1, err
    assert data["summary"]["objects"] == 2 * units and data["summary"]["errors"] == 0
    names = [f["object"] for f in data["findings"]]
    assert names == [f"web-{i}" for i in range(units)]
    assert rss < 250, f"peak RSS {rss} MiB for a {big_stream.stat().st_size >> 20} MiB file"
    print(f"\naudit 200 MB: {took:.1f} s, peak RSS {rss} MiB")


def test_a_200_mb_stream_is_fixed_in_bounded_memory(big_stream: Path):
    units = int(big_stream.with_suffix(".units").read_text())
    work = big_stream.with_name("fixed.yaml")
    with open(big_stream, "rb") as src, open(work, "wb") as out:  # through stdin and stdout
        code, err, took, rss = measured("fix", "-", stdin=src, stdout=out)
    assert code == 1 and not error_lines(err), err[-2000:]
    assert rss < 400, f"peak RSS {rss} MiB for a {big_stream.stat().st_size >> 20} MiB stream"
    print(f"\nfix 200 MB (stdin to stdout): {took:.1f} s, peak RSS {rss} MiB")
    code, err, took, rss = measured("audit", str(work), "--select", "RO101,RO201,RO203")
    assert code == 0, err
    with open(work) as fixed:
        head = fixed.read(4 * MB)
    assert "readOnlyRootFilesystem: true" in head and "mountPath: /var/cache/nginx" in head
    assert work.stat().st_size > big_stream.stat().st_size + units * 100
    before = digest(work)
    code, err, _, _ = measured("fix", str(work))
    assert code == 0 and digest(work) == before, "a second fix changes nothing"


def test_a_200_mb_log_is_explained_in_bounded_memory(tmp_path: Path):
    log = tmp_path / "access.log"
    line = ('{"time": "2026-11-27T10:00:00Z", "level": "info", "msg": "request", "path": "/api/v1/items",'
            ' "status": 200, "trace": "' + "ab" * 400 + '"}\n')
    with open(log, "w") as out:
        out.write(line * (BIG // len(line)))
        out.write(NGINX_LINE)
    import json

    report = tmp_path / "report.json"
    with open(report, "w") as out:
        code, err, took, rss = measured("explain", str(log), "--format", "json", stdout=out)
    assert code == 1, err
    (found,) = json.loads(report.read_text())
    assert (found["line"], found["mount"]) == (BIG // len(line) + 1, "/var/cache/nginx")
    assert rss < 100, f"peak RSS {rss} MiB for a 200 MiB log"
    print(f"\nexplain 200 MB: {took:.1f} s, peak RSS {rss} MiB")


def test_fifos_are_skipped_in_a_walk_and_not_written_by_fix(tmp_path: Path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    os.mkfifo(tree / "pipe.yaml")  # nobody writes it: reading it would block for ever
    code, out, err = rofs("audit", str(tree), "--select", "RO101", timeout=30)
    assert code == 1 and "ok.yaml" in out and "pipe.yaml" not in out + err
    code, out, err = rofs("fix", str(tree), timeout=30)
    assert code == 1 and "changed 1 of 1 files" in err
    named = rofs("fix", str(tree / "pipe.yaml"), timeout=30)
    assert named[0] == 2 and "not a regular file" in named[2]
    assert stat.S_ISFIFO(os.lstat(tree / "pipe.yaml").st_mode)  # still the FIFO, not a file put in its place


def test_a_file_and_a_link_to_it_are_read_once_and_a_named_link_is_not_replaced(tmp_path: Path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "inner.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tree / "a-link.yaml").symlink_to("inner.yaml")
    code, out, err = rofs("audit", str(tree), "--select", "RO101", timeout=30)
    assert code == 1 and out.count(" RO101 ") == 1
    code, out, err = rofs("fix", str(tree), timeout=30)
    assert code == 1 and "changed 1 of 1 files" in err and "not fixable" not in err
    outside = tmp_path / "outside.yaml"
    outside.write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tree / "out.yaml").symlink_to(outside)
    code, out, err = rofs("fix", str(tree / "out.yaml"), timeout=30)
    assert code == 2 and "a symbolic link; nothing written" in err and str(outside) in err
    assert os.path.islink(tree / "out.yaml") and "read_only" not in outside.read_text()
