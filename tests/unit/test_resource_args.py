"""load_resource_args (dict, YAML/JSON file, YAML text), fill_macros, and the Args accessors' error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_wandb_launch.errors import MISSING, ResourceArgsError
from airflow_wandb_launch.launch.resource_args import Args, fill_macros, load_resource_args

CONFIG = {"RoleArn": "arn:aws:iam::1:role/r", "ResourceConfig": {"InstanceCount": 1, "Tags": ["a"]}}


def load(value, **kwargs):
    kwargs.setdefault("resource", "sagemaker")
    return load_resource_args(value, **kwargs)


# --- load_resource_args -------------------------------------------------------------------------------------------


def test_dict_is_deep_copied():
    result = load(CONFIG)
    assert result == CONFIG
    result["ResourceConfig"]["InstanceCount"] = 9
    result["ResourceConfig"]["Tags"].append("b")
    result["New"] = 1
    assert CONFIG == {"RoleArn": "arn:aws:iam::1:role/r", "ResourceConfig": {"InstanceCount": 1, "Tags": ["a"]}}


@pytest.mark.parametrize("value", [None, {}, ""])
def test_empty_is_an_empty_dict(value):
    assert load(value) == {}


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_file_by_absolute_path(tmp_path, suffix):
    path = tmp_path / f"queue{suffix}"
    path.write_text(
        json.dumps(CONFIG)
        if suffix == ".json"
        else "RoleArn: arn:aws:iam::1:role/r\nResourceConfig:\n  InstanceCount: 1\n  Tags: [a]\n"
    )
    assert load(str(path)) == CONFIG
    assert load(path) == CONFIG  # os.PathLike too


def test_relative_path_resolves_against_base_dir(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "queue.yaml").write_text("RoleArn: x\n")
    assert load("configs/queue.yaml", base_dir=tmp_path) == {"RoleArn": "x"}
    assert load("configs/queue.yaml", base_dir=str(tmp_path)) == {"RoleArn": "x"}


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ResourceArgsError) as info:
        load("nope/queue.yaml", base_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "nope" / "queue.yaml") in message
    assert "resource_args" in message
    assert "a readable YAML/JSON file" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RoleArn: [unclosed\n", "valid YAML/JSON"),
        ('{"RoleArn": "x",,}', "valid YAML/JSON"),
    ],
)
def test_invalid_file_content(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ResourceArgsError) as info:
        load(str(path))
    assert expected in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ("- a\n- b\n", "['a', 'b']"),
        ("just a string\n", "'just a string'"),
        ("42\n", "42"),
    ],
)
def test_non_mapping_top_level_in_a_file(tmp_path, content, shown):
    path = tmp_path / "list.yaml"
    path.write_text(content)
    with pytest.raises(ResourceArgsError, match="expected a mapping at the top level") as info:
        load(str(path))
    assert shown in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RoleArn: x\nResourceConfig:\n  InstanceCount: 2\n", {"RoleArn": "x", "ResourceConfig": {"InstanceCount": 2}}),
        ('{"RoleArn": "x", "EnableManagedSpotTraining": true}', {"RoleArn": "x", "EnableManagedSpotTraining": True}),
        ("# only a comment\n", {}),
    ],
)
def test_yaml_text(text, expected):
    assert load(text) == expected


@pytest.mark.parametrize("text", ["[1, 2]", "plain words"])
def test_yaml_text_non_mapping(text):
    with pytest.raises(ResourceArgsError, match="a mapping at the top level"):
        load(text)


@pytest.mark.parametrize("value", [42, 1.5, ["RoleArn"], b"RoleArn: x"])
def test_other_types_are_rejected(value):
    with pytest.raises(ResourceArgsError, match="expected a dict or a path to a YAML/JSON file"):
        load(value)


@pytest.mark.parametrize(
    ("value", "names", "expected"),
    [
        ({"sagemaker": {"RoleArn": "x"}}, ("sagemaker",), {"RoleArn": "x"}),
        ({"gcp-vertex": {"spec": {}}}, ("vertex", "gcp-vertex"), {"spec": {}}),
        ({"sagemaker": None}, ("sagemaker",), {}),
        # not a wrapper: more than one key, or a name that is not the resource's
        ({"sagemaker": {"RoleArn": "x"}, "Tags": []}, ("sagemaker",), {"sagemaker": {"RoleArn": "x"}, "Tags": []}),
        ({"vertex": {"spec": {}}}, ("sagemaker",), {"vertex": {"spec": {}}}),
        ({"sagemaker": {"RoleArn": "x"}}, (), {"sagemaker": {"RoleArn": "x"}}),
    ],
)
def test_resource_wrapper(value, names, expected):
    assert load(value, resource_names=names) == expected


def test_resource_wrapper_must_hold_a_mapping():
    with pytest.raises(ResourceArgsError, match=r"resource_args\.sagemaker = \['x'\]: expected a mapping"):
        load({"sagemaker": ["x"]}, resource_names=("sagemaker",))


def test_wrapper_in_a_file(tmp_path):
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"sagemaker": CONFIG}))
    assert load(str(path), resource_names=("sagemaker",)) == CONFIG


# --- fill_macros ----------------------------------------------------------------------------------------------------


def test_fill_macros_nested():
    value = {
        "a": "${image_uri}",
        "b": ["x-${run_id}-y", {"c": "${project_name}/${run_id}"}],
        "d": 3,
        "e": None,
        "f": True,
        "g": "${unknown} stays",
        "${run_id}": "keys are not filled",
    }
    macros = {"image_uri": "img:1", "run_id": "abc", "project_name": "p"}
    assert fill_macros(value, macros) == {
        "a": "img:1",
        "b": ["x-abc-y", {"c": "p/abc"}],
        "d": 3,
        "e": None,
        "f": True,
        "g": "${unknown} stays",
        "${run_id}": "keys are not filled",
    }


def test_fill_macros_does_not_mutate_input():
    value = {"a": ["${run_id}"]}
    fill_macros(value, {"run_id": "x"})
    assert value == {"a": ["${run_id}"]}


@pytest.mark.parametrize(("text", "expected"), [("$run_id", "$run_id"), ("${ run_id }", "${ run_id }"), ("", "")])
def test_fill_macros_only_exact_syntax(text, expected):
    assert fill_macros(text, {"run_id": "x"}) == expected


# --- Args -------------------------------------------------------------------------------------------------------------

DATA = {
    "name": "job",
    "count": 2,
    "flag": True,
    "ratio": 1,
    "nested": {"inner": {"deep": "x"}, "n": 0},
    "items": [{"a": 1}, {"a": 2}],
    "bad_items": [{"a": 1}, "oops"],
    "nothing": None,
}


@pytest.fixture
def args() -> Args:
    return Args("sagemaker", DATA)


@pytest.mark.parametrize(
    ("name", "kind", "kwargs", "expected"),
    [
        ("name", str, {}, "job"),
        ("count", int, {}, 2),
        ("flag", bool, {}, True),
        ("ratio", float, {}, 1),  # an int is a number
        ("missing", str, {}, None),
        ("missing", str, {"default": "d"}, "d"),
        ("nothing", str, {"default": "d"}, "d"),  # null is missing
        ("count", (int, str), {}, 2),
    ],
)
def test_get(args, name, kind, kwargs, expected):
    assert args.get(name, kind, **kwargs) == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.get("missing", str, required=True), "sagemaker: missing = <missing>: expected a string"),
        (lambda a: a.get("nothing", int, required=True), "sagemaker: nothing = <missing>: expected an integer"),
        (lambda a: a.get("name", int), "sagemaker: name = 'job': expected an integer"),
        (lambda a: a.get("flag", int), "sagemaker: flag = True: expected an integer"),
        (lambda a: a.get("flag", float), "sagemaker: flag = True: expected a number"),
        (lambda a: a.get("count", bool), "sagemaker: count = 2: expected true or false"),
        (lambda a: a.get("name", (int, list)), "sagemaker: name = 'job': expected an integer or a list"),
        (lambda a: a.get("name", dict), "sagemaker: name = 'job': expected a mapping"),
        (lambda a: a.positive_int("count", minimum=3), "sagemaker: count = 2: expected an integer >= 3"),
        (lambda a: a.child("nested").positive_int("n"), "sagemaker: nested.n = 0: expected an integer >= 1"),
        (
            lambda a: a.child("nested").child("inner").get("deep", int),
            "sagemaker: nested.inner.deep = 'x': expected an integer",
        ),
        (lambda a: a.child("missing", required=True), "sagemaker: missing = <missing>: expected a mapping"),
        (lambda a: a.child("name"), "sagemaker: name = 'job': expected a mapping"),
        (lambda a: a.items("bad_items"), "sagemaker: bad_items[1] = 'oops': expected a mapping"),
        (lambda a: a.items("name"), "sagemaker: name = 'job': expected a list"),
        (lambda a: a.items("items")[1].get("a", str), "sagemaker: items[1].a = 2: expected a string"),
    ],
)
def test_error_messages(args, call, message):
    with pytest.raises(ResourceArgsError) as info:
        call(args)
    assert str(info.value) == message


def test_positive_int_ok(args):
    assert args.positive_int("count") == 2
    assert args.positive_int("missing") is None
    assert args.child("nested").positive_int("n", minimum=0) == 0


def test_child_and_items(args):
    assert args.child("missing").data == {}
    assert args.child("nested").child("inner").path == "nested.inner"
    assert [i.path for i in args.items("items")] == ["items[0]", "items[1]"]
    assert args.items("missing") == []
    assert args.key(3) == "[3]"
    assert args.child("nested").key(0) == "nested[0]"


def test_only_accepts_known_keys():
    Args("r", {"RoleArn": 1}).only({"RoleArn", "Tags"})


@pytest.mark.parametrize(
    ("data", "key_path", "hint"),
    [
        ({"ResourceConfigs": {}}, "ResourceConfigs", "did you mean 'ResourceConfig'?"),
        ({"rolearn": "x"}, "rolearn", "did you mean 'RoleArn'?"),
        ({"zzzzzz": 1}, "zzzzzz", None),
    ],
)
def test_only_rejects_unknown_keys_with_a_suggestion(data, key_path, hint):
    allowed = {"ResourceConfig", "RoleArn", "Tags"}
    with pytest.raises(ResourceArgsError) as info:
        Args("sagemaker", data, "").only(allowed)
    message = str(info.value)
    assert info.value.key_path == key_path
    assert "one of the known keys ['ResourceConfig', 'RoleArn', 'Tags']" in message
    if hint:
        assert message.endswith(hint)
    else:
        assert "did you mean" not in message


def test_only_names_the_nested_path():
    with pytest.raises(ResourceArgsError, match=r"^local-process: env\.X = 1: expected one of the known keys"):
        Args("local-process", {"X": 1}, "env").only({"Y"})


def test_error_attributes_and_long_values_are_cut():
    err = ResourceArgsError("sagemaker", "A.B", "v" * 500, "something")
    assert (err.resource, err.key_path, err.value, err.expected) == ("sagemaker", "A.B", "v" * 500, "something")
    assert len(str(err)) < 300
    assert "..." in str(err)
    assert isinstance(err, ValueError)
    assert repr(MISSING) == "<missing>"


def test_file_path_object_relative(tmp_path, monkeypatch):
    (tmp_path / "q.yml").write_text("RoleArn: y\n")
    assert load(Path("q.yml"), base_dir=tmp_path) == {"RoleArn": "y"}
