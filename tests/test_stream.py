"""Long inputs read and fixed piece by piece (rofs.stream, rofs.fix.fix_stream) give exactly what
reading the whole file gives: same objects at the same lines, same fixed text, a diff that
applies, claim names that stay unique across pieces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import rofs.stream as stream_mod
from conftest import in_ci
from rofs.fix import ALL_RULES, fix_stream, fix_text
from rofs.profiles import builtin_registry
from rofs.sources.kubernetes import KubernetesSource
from rofs.stream import chunks, documents
from rofs.yamlnode import Loader

SELECTED = set(ALL_RULES)

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
      - name: main
        image: {image}
"""

# kubectl get -o yaml: one List, items at column 0, their lists at the same column as their keys.
LIST_HEAD = "apiVersion: v1\nitems:\n"
LIST_TAIL = 'kind: List\nmetadata:\n  resourceVersion: ""\n'


def _item(name: str, image: str, indent: str = "") -> str:
    body = DEPLOY.format(name=name, image=image)
    lines = body.splitlines(keepends=True)
    return indent + "- " + lines[0] + "".join(indent + "  " + line for line in lines[1:])


def _sample(crlf: bool = False) -> str:
    images = ["postgres:16", "nginx:1.27", "redis:7", "registry.example.com/api:1"]
    parts = ["# a header comment\n", DEPLOY.format(name="first", image="postgres:16")]
    for i in range(12):
        parts.append("---\n" + DEPLOY.format(name=f"doc-{i}", image=images[i % 4]))
    parts.append("...\n%YAML 1.1\n---\n" + LIST_HEAD)
    for i in range(10):
        parts.append(_item(f"item-{i}", images[i % 4]))
        if i == 4:
            parts.append("# a comment between items\n\n")
    parts.append(LIST_TAIL)
    parts.append("---\napiVersion: v1\nkind: List\nitems:\n" + "".join(_item(f"ind-{i}", images[i % 4], "  ") for i in range(3)))
    for i in range(5):
        parts.append("---\n" + DEPLOY.format(name=f"tail-{i}", image=images[i % 4]))
    text = "".join(parts)
    return text.replace("\n", "\r\n") if crlf else text


def _objects(docs) -> list[tuple[str, int, int, int]]:
    out = []
    for doc in docs:
        for obj in KubernetesSource.objects(doc):
            meta = {k.value: v for k, v in obj.value}.get("metadata")
            node = {k.value: v for k, v in meta.value}.get("name") if meta is not None else None
            if node is None:
                continue
            out.append((node.value, obj.start_mark.line, obj.start_mark.column, obj.end_mark.line))
    return out


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("batch", [1, 300, 1 << 20])
def test_chunks_cover_the_text_exactly_and_keep_positions(crlf: bool, batch: int):
    text = _sample(crlf)
    pieces = list(chunks(text.splitlines(keepends=True), batch))
    assert "".join(p.restore(p.text) for p in pieces) == text
    lines = text.splitlines(keepends=True)
    for p in pieces:  # each piece says where it starts
        assert "".join(lines[p.line - 1 : p.line - 1 + p.text.count("\n")]) == p.restore(p.text)
    items = [p for p in pieces if p.item_column is not None]
    assert [p.item_column for p in items] == [0] * 10 + [2] * 3
    whole = _objects(yaml.compose_all(text, Loader=Loader))
    streamed = _objects(documents(text.splitlines(keepends=True), Loader, batch))
    assert streamed == whole
    assert [o[0] for o in streamed][:3] == ["first", "doc-0", "doc-1"] and len(streamed) == 1 + 12 + 10 + 3 + 5


def test_a_yaml_error_in_a_later_piece_has_the_file_line():
    text = _sample() + "---\nkind: [\n"
    with pytest.raises(yaml.YAMLError) as caught:
        list(documents(text.splitlines(keepends=True), Loader, 100))
    assert caught.value.problem_mark.line + 1 == text.count("\n") + 1


def _whole_and_streamed(tmp_path: Path, text: str, monkeypatch, batch: int = 400):
    path = tmp_path / "x.yaml"
    path.write_bytes(text.encode())
    whole = fix_text(text, "x.yaml", builtin_registry(), SELECTED)
    monkeypatch.setattr(stream_mod, "BATCH_BYTES", batch)
    monkeypatch.chdir(tmp_path)
    streamed = fix_stream("x.yaml", "x.yaml", builtin_registry(), SELECTED, None, False)
    diffed = fix_stream("x.yaml", "x.yaml", builtin_registry(), SELECTED, None, True)
    return path, whole, streamed, diffed


@pytest.mark.parametrize("crlf", [False, True])
def test_a_stream_fixed_piece_by_piece_equals_the_whole_fix(tmp_path: Path, monkeypatch, crlf: bool):
    import io

    text = _sample(crlf)
    path, whole, streamed, diffed = _whole_and_streamed(tmp_path, text, monkeypatch)
    assert whole.error is None and streamed.error is None and whole.changed and streamed.changed
    out = io.StringIO()
    streamed.write_fixed(out)
    assert out.getvalue() == whole.fixed
    assert streamed.notes == whole.notes
    # The diff, made piece by piece, applies to the file and gives the fixed text.
    if shutil.which("git") is None:
        pytest.fail("git is needed to apply the diff") if in_ci() else pytest.skip("git is needed")
    patch = tmp_path / "fix.diff"
    patch.write_bytes(diffed.diff().encode())
    applied = subprocess.run(["git", "apply", "--unsafe-paths", str(patch)], cwd=tmp_path, capture_output=True, text=True,
                             check=False)
    assert applied.returncode == 0, applied.stderr
    assert path.read_bytes().decode() == whole.fixed


def test_claim_names_stay_unique_across_pieces(tmp_path: Path, monkeypatch):
    """The fix adds claim db-data for the first piece's postgres; a claim of that name comes
    much later: a second pass picks another name, as the whole-file fix does."""
    claim = "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: db-data\nspec: {}\n"
    filler = "".join("---\n" + DEPLOY.format(name=f"f-{i}", image="nginx:1.27") for i in range(6))
    text = DEPLOY.format(name="db", image="postgres:16") + filler + claim
    _, whole, streamed, _ = _whole_and_streamed(tmp_path, text, monkeypatch, batch=200)
    import io

    out = io.StringIO()
    streamed.write_fixed(out)
    assert out.getvalue() == whole.fixed
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(whole.fixed) if d["kind"] == "PersistentVolumeClaim"]
    assert names[0] == "db-data" and len(names) == len(set(names)) == 2
