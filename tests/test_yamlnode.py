"""rofs.yamlnode: the node helpers every reader and fixer shares, on real YAML composed by the real loader."""

from __future__ import annotations

import pytest
import yaml

from rofs.model import Location
from rofs.sources.interface import ReadError
from rofs.sources.kubernetes import KubernetesSource
from rofs.yamlnode import (
    HELM_HINT,
    Loader,
    ShapeError,
    as_bool,
    as_int,
    as_map,
    as_scalar,
    as_seq,
    as_strings,
    describe,
    expect_map,
    get,
    is_null,
    key_node,
    key_text,
    location,
    merged_get,
    merged_key_node,
    merged_pairs,
    scalar_text,
    split_colons,
    yaml_error,
)


def compose(text: str) -> yaml.MappingNode:
    node = yaml.compose(text, Loader=Loader)
    assert isinstance(node, yaml.MappingNode)
    return node


def texts(pairs: list[tuple[yaml.Node, yaml.Node]]) -> list[tuple[str, str]]:
    return [(k.value, v.value) for k, v in pairs]


# --- is_null -------------------------------------------------------------------------------


def test_is_null_treats_an_absent_value_as_null():
    # The editor's old is_null(None) was False, the readers' True: absent is null everywhere now.
    doc = compose("a: 1\n")
    assert is_null(None) is True
    assert is_null(get(doc, "missing")) is True


@pytest.mark.parametrize("written", ["~", "null", "Null", "NULL", ""])
def test_is_null_for_every_null_spelling(written: str):
    assert is_null(get(compose(f"a: {written}\n"), "a")) is True


@pytest.mark.parametrize("written", ['"null"', "''", "0", "false", "[]", "{}"])
def test_is_null_is_false_for_values_that_are_not_null(written: str):
    assert is_null(get(compose(f"a: {written}\n"), "a")) is False


# --- own keys --------------------------------------------------------------------------------


def test_get_and_key_node_read_the_last_of_a_duplicated_key():
    """As every YAML loader does (PyYAML's constructor, the one kubectl and docker compose use
    keep the last or refuse the file): rofs reads and edits the value that takes effect."""
    doc = compose("a: first\nb: x\na: second\n")
    assert get(doc, "a").value == "second" and merged_get(doc, "a").value == "second"
    assert yaml.safe_load("a: first\nb: x\na: second\n")["a"] == "second"
    knode = key_node(doc, "a")
    assert (knode.value, knode.start_mark.line) == ("a", 2)


def test_get_does_not_follow_merge_keys():
    doc = compose("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n")
    use = get(doc, "use")
    assert get(use, "x") is None
    assert get(use, "y").value == "2"
    assert isinstance(get(use, "<<"), yaml.MappingNode)  # the merge key is an ordinary key here


def test_get_on_anything_but_a_mapping_is_none():
    doc = compose("l: [a: 1]\ns: text\n")
    assert get(get(doc, "l"), "a") is None
    assert get(get(doc, "s"), "a") is None
    assert get(None, "a") is None
    assert key_node(None, "a") is None


def test_get_matches_keys_by_their_text_only():
    doc = compose("1: one\n'2': two\n[k]: list\n")
    assert get(doc, "1").value == "one"
    assert get(doc, "2").value == "two"
    assert get(doc, "[k]") is None  # a collection key is never matched
    assert [key_text(k) for k, _ in doc.value] == ["1", "2", None]


# --- merged keys -------------------------------------------------------------------------------


MERGES = """\
a: &a {x: from-a, y: from-a}
b: &b {y: from-b, z: from-b}
one:
  <<: *a
  x: own
two:
  <<: [*a, *b]
  w: own
nested:
  <<: {<<: *b, v: inner}
bad:
  <<: [*a, text]
"""


def test_merged_pairs_own_keys_win_over_merged_ones():
    one = get(compose(MERGES), "one")
    assert texts(merged_pairs(one)) == [("y", "from-a"), ("x", "own")]
    assert merged_get(one, "x").value == "own"
    assert merged_get(one, "y").value == "from-a"


def test_merged_pairs_the_first_merged_mapping_wins():
    two = get(compose(MERGES), "two")
    assert texts(merged_pairs(two)) == [("x", "from-a"), ("y", "from-a"), ("z", "from-b"), ("w", "own")]
    assert merged_get(two, "y").value == "from-a"
    assert merged_get(two, "<<") is None  # merges are applied, not listed


def test_merged_pairs_follow_merges_of_merges():
    nested = get(compose(MERGES), "nested")
    assert texts(merged_pairs(nested)) == [("y", "from-b"), ("z", "from-b"), ("v", "inner")]


def test_merged_key_node_is_where_the_key_is_written():
    doc = compose(MERGES)
    knode = merged_key_node(get(doc, "one"), "y")
    assert (knode.value, knode.start_mark.line) == ("y", 0)  # in the anchor `a`, line 1
    assert merged_key_node(get(doc, "one"), "x").start_mark.line == 4


def test_merged_pairs_without_merges_are_the_own_pairs_duplicates_kept():
    doc = compose("a: 1\na: 2\n")
    assert texts(merged_pairs(doc)) == [("a", "1"), ("a", "2")]
    assert merged_get(doc, "a").value == "2"  # the last, as a loader keeps
    assert merged_pairs(get(doc, "a")) == []
    assert merged_pairs(None) == []


def test_a_merge_of_a_scalar_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"a merge key \(<<\) needs a mapping or a list of mappings") as err:
        merged_pairs(get(compose(MERGES), "bad"))
    assert err.value.node.value == "text"


# --- values ---------------------------------------------------------------------------------------


VALUES = """\
s: text
n: ~
q: "42"
l: [a, ~, b]
m: {k: v}
yes_: Yes
off_: off
t: TRUE
maybe: perhaps
hex: 0x1F
oct: 0o17
dec: "1000"
neg: -5
word: ten
"""


def test_as_scalar_is_strict_scalar_text_is_lenient():
    doc = compose(VALUES)
    assert as_scalar(get(doc, "s")) == "text"
    assert as_scalar(get(doc, "q")) == "42"
    assert as_scalar(get(doc, "n")) is None
    assert as_scalar(get(doc, "missing")) is None
    with pytest.raises(ShapeError, match=r"^expected a single value, found a list$"):
        as_scalar(get(doc, "l"))
    with pytest.raises(ShapeError, match=r"^expected a single value, found a mapping$"):
        as_scalar(get(doc, "m"))
    # the lenient one: the same for scalars, None for the rest
    assert scalar_text(get(doc, "s")) == "text"
    assert scalar_text(get(doc, "n")) is None
    assert scalar_text(get(doc, "l")) is None
    assert scalar_text(get(doc, "m")) is None
    assert scalar_text(None) is None


def test_as_bool_reads_yaml_booleans_in_any_case():
    doc = compose(VALUES)
    assert as_bool(get(doc, "yes_")) is True
    assert as_bool(get(doc, "off_")) is False
    assert as_bool(get(doc, "t")) is True
    assert as_bool(get(doc, "n")) is None
    assert as_bool(None) is None
    with pytest.raises(ShapeError, match=r"^expected true or false, found 'perhaps'$"):
        as_bool(get(doc, "maybe"))


def test_as_int_reads_decimal_hex_and_octal():
    doc = compose(VALUES)
    assert as_int(get(doc, "hex")) == 31
    assert as_int(get(doc, "oct")) == 15
    assert as_int(get(doc, "dec")) == 1000
    assert as_int(get(doc, "neg")) == -5
    assert as_int(get(doc, "n")) is None
    with pytest.raises(ShapeError, match=r"^expected a number, found 'ten'$"):
        as_int(get(doc, "word"))


def test_as_map_and_as_seq_read_null_as_empty_and_name_the_field():
    doc = compose(VALUES)
    assert as_map(get(doc, "m"), "m") is get(doc, "m")
    assert as_map(get(doc, "n"), "n") is None
    assert as_map(None, "x") is None
    with pytest.raises(ShapeError, match=r"^securityContext should be a mapping, found a value \('text'\)$"):
        as_map(get(doc, "s"), "securityContext")
    assert [scalar_text(i) for i in as_seq(get(doc, "l"), "l")] == ["a", None, "b"]
    assert as_seq(get(doc, "n"), "n") == []
    with pytest.raises(ShapeError, match=r"^containers should be a list, found a mapping$"):
        as_seq(get(doc, "m"), "containers")


def test_as_strings_reads_null_items_as_empty_strings():
    doc = compose(VALUES)
    assert as_strings(get(doc, "l"), "l") == ("a", "", "b")
    assert as_strings(get(doc, "n"), "n") is None
    assert as_strings(None, "x") is None


def test_expect_map_refuses_a_null_item():
    items = as_seq(get(compose("l:\n- {a: 1}\n-\n- ~\n"), "l"), "l")
    assert expect_map(items[0], "l item") is items[0]
    with pytest.raises(ShapeError, match=r"^l item should be a mapping, found a value \(''\)$"):
        expect_map(items[1], "l item")
    with pytest.raises(ShapeError, match=r"^l item should be a mapping, found a value \('~'\)$"):
        expect_map(items[2], "l item")


# --- descriptions ----------------------------------------------------------------------------------


def test_location_is_one_based_start_and_end():
    doc = compose("a:\n  b: [1, 2]\n")
    node = get(get(doc, "a"), "b")
    assert location("f.yaml", node) == Location("f.yaml", 2, 6, 2, 12)


def test_describe_quotes_short_values_only():
    doc = compose(f"m: {{}}\nl: []\ns: short\nlong: {'x' * 40}\n")
    assert [describe(get(doc, k)) for k in ("m", "l", "s", "long")] == ["mapping", "list", "value ('short')", "value"]


def test_a_shape_error_on_a_helm_placeholder_carries_the_hint():
    node = get(compose("image: {{ .Values.image }}\n"), "image")
    with pytest.raises(ShapeError) as err:
        as_scalar(node)
    assert str(err.value) == f"expected a single value, found a mapping; {HELM_HINT}"


def test_yaml_error_has_the_line_and_the_helm_hint_when_templated():
    text = "a: 1\nb: [\n"
    with pytest.raises(yaml.YAMLError) as err:
        yaml.compose(text, Loader=Loader)
    error = yaml_error("f.yaml", err.value, text)
    assert isinstance(error, ReadError)
    assert error.path == "f.yaml"
    assert error.line == 3
    assert error.message.startswith("invalid YAML: ")
    assert HELM_HINT not in error.message
    assert HELM_HINT in yaml_error("f.yaml", err.value, "{{ x }}").message


# --- split_colons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("/data", ["/data"]),
        ("data:/data", ["data", "/data"]),
        ("./d:/data:ro", ["./d", "/data", "ro"]),
        ("${DATA:-./data}:/data", ["${DATA:-./data}", "/data"]),
        ("${A:-${B:-x}}:/t:ro", ["${A:-${B:-x}}", "/t", "ro"]),
        ("C:\\data:/data", ["C:\\data", "/data"]),
        ("C:/data:/data:rw", ["C:/data", "/data", "rw"]),
        ("c:data", ["c", "data"]),  # a one-letter volume name, not a drive
        ("", [""]),
    ],
)
def test_split_colons(text: str, parts: list[str]):
    assert split_colons(text) == parts


# --- the Kubernetes reader on null list items (was: an AttributeError) -----------------------------


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"


@pytest.mark.parametrize(
    ("spec", "line", "message"),
    [
        ("  containers:\n  -\n", 6, "Pod p: containers item should be a mapping, found a value ('')"),
        ("  containers: [{name: a}]\n  volumes: [~]\n", 6, "Pod p: volumes item should be a mapping, found a value ('~')"),
        ("  containers: [{name: a, volumeMounts: [null]}]\n", 5,
         "Pod p: volumeMounts item should be a mapping, found a value ('null')"),
        ("  containers: [{name: a, env: [~]}]\n", 5, "Pod p: env item should be a mapping, found a value ('~')"),
    ],
)
def test_a_null_list_item_is_a_read_error(spec: str, line: int, message: str):
    result = KubernetesSource().read(POD + spec, "p.yaml")
    assert result.workloads == []
    assert result.errors == [ReadError("p.yaml", line, message)]


def test_a_cronjob_shape_error_names_the_nested_spec():
    text = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec: oops\n"
    result = KubernetesSource().read(text, "c.yaml")
    assert result.errors == [
        ReadError("c.yaml", 6, "CronJob c: spec.jobTemplate.spec should be a mapping, found a value ('oops')")
    ]
