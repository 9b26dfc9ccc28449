"""load_resource_args (dict, YAML/JSON file, YAML text), fill_macros, and the Args accessors' error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_wandb_launch.errors import MISSING, ResourceArgsError, is_secret_key, show_value
from airflow_wandb_launch.launch.resource_args import (
    MAX_DEPTH,
    Args,
    check_limits,
    fill_macros,
    format_path,
    load_resource_args,
    rename_keys,
)

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


# --- shared input checks: YAML errors, limits, blank values, secrets, key spelling --------------------------------


@pytest.mark.parametrize(
    ("text", "line_shown", "where"),
    [
        ("RoleArn: x\nTags:\n  - a\n b: c\n", "' b: c'", "line 4"),
        ('{"RoleArn": "x",,}', '\'{"RoleArn": "x",,}\'', "line 1, column 17"),
        ("a: 1\na: 2\n", "'a: 2'", "'a' is given twice at line 2"),
        ("Spec:\n  - [unclosed\n", "'  - [unclosed'", "while parsing a flow sequence at line 2"),
    ],
)
def test_unparsable_yaml_text_names_resource_args_and_the_line(text, line_shown, where):
    with pytest.raises(ResourceArgsError) as info:
        load(text)
    assert info.value.key_path == "resource_args"
    message = str(info.value)
    assert message.startswith(f"sagemaker: resource_args = {line_shown}: expected valid YAML/JSON (")
    assert where in message
    assert "YAMLError" not in type(info.value).__name__


def test_yaml_anchors_and_merge_keys_still_load():
    text = "base: &base {InstanceCount: 1, VolumeSizeInGB: 5}\nResourceConfig:\n  <<: *base\n  VolumeSizeInGB: 50\n"
    assert load(text)["ResourceConfig"] == {"InstanceCount": 1, "VolumeSizeInGB": 50}


def test_unparsable_file_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("RoleArn: x\n  Bad: y\n")
    with pytest.raises(ResourceArgsError, match=rf"expected valid YAML/JSON \({path}, .* at line 2"):
        load(str(path))


def test_a_secret_on_the_bad_line_is_masked():
    with pytest.raises(ResourceArgsError) as info:
        load("env:\n  WANDB_API_KEY: abcdef: x\n")
    assert "abcdef" not in str(info.value)
    assert "WANDB_API_KEY: <masked>" in str(info.value)


def _nested(depth: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth - 1):
        node["k"] = {}
        node = node["k"]
    return root


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_nested(5000), id="dict-5000-deep"),
        pytest.param("k: " + "[" * 5000 + "]" * 5000, id="yaml-5000-deep"),
        pytest.param("k: " + "[" * 40 + "]" * 40, id="yaml-40-deep"),
    ],
)
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(value):
    with pytest.raises(ResourceArgsError, match=rf"expected (YAML/JSON nested )?at most {MAX_DEPTH} levels"):
        load(value)


def test_a_self_referencing_value_is_bounded():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ResourceArgsError, match="levels of nesting"):
        check_limits({"a": loop}, resource="r")


def test_too_many_items_is_an_error():
    with pytest.raises(ResourceArgsError, match="at most 10 keys and list items in all"):
        check_limits({"a": list(range(11))}, resource="r", max_items=10)
    check_limits({"a": list(range(9))}, resource="r", max_items=10)


def test_limits_are_parameters_of_load():
    with pytest.raises(ResourceArgsError, match=r"^sagemaker: a\.b = \{'c': 1\}: expected at most 2 levels"):
        load({"a": {"b": {"c": 1}}}, max_depth=2)


def test_text_too_large_is_an_error():
    with pytest.raises(ResourceArgsError, match="at most 1000000 characters"):
        load("a: " + "x" * 1_000_001)


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_string_is_missing(blank):
    args = Args("sagemaker", {"name": blank})
    assert args.get("name", str) is None
    assert args.get("name", str, default="d") == "d"
    with pytest.raises(ResourceArgsError) as info:
        args.get("name", str, required=True)
    assert str(info.value) == f"sagemaker: name = {blank!r}: expected a string, not empty"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("WANDB_API_KEY", True),
        ("apiKey", True),
        ("db_password", True),
        ("HF_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("private-key", True),
        ("max_tokens", False),
        ("KmsKeyId", False),
        ("RoleArn", False),
        ("key", False),
        (3, False),
    ],
)
def test_is_secret_key(name, secret):
    assert is_secret_key(name) is secret


def test_secrets_are_masked_in_messages_and_values():
    err = ResourceArgsError("r", "env.WANDB_API_KEY", "k" * 40, "a string")
    assert "k" * 40 not in str(err) and "<masked>" in str(err)
    assert repr(err.value) == "<masked>"
    err = ResourceArgsError("r", "env", {"A": "1", "DB_PASSWORD": "hunter2", "n": [{"token": "t0k"}]}, "x")
    assert "hunter2" not in str(err) and "t0k" not in str(err)
    assert "{'A': '1', 'DB_PASSWORD': <masked>, 'n': [{'token': <masked>}]}" in str(err)


def test_shown_values_are_bounded():
    assert show_value("x" * 500).endswith("... (500 characters)")
    huge = {f"k{i}": i for i in range(100_000)}
    assert len(show_value(huge)) < 250
    assert "..." in show_value(_nested(100))
    assert show_value(MISSING) == "<missing>"


def test_rename_keys_remembers_how_keys_were_written():
    def upper(key: str) -> str:
        return key.upper()

    data = {"a": {"b_c": [{"d": 1}], "data": {"x": "1"}}}
    renamed, spelling = rename_keys(data, upper, resource="r", verbatim=frozenset({"DATA"}), unrename=str.lower)
    assert renamed == {"A": {"B_C": [{"D": 1}], "DATA": {"x": "1"}}}
    assert spelling.path(("A", "B_C", 0, "D")) == "a.b_c[0].d"
    assert spelling.path(("A", "MISSING_KEY")) == "a.missing_key"  # spelled like its siblings
    assert spelling.path(("A", "DATA", "x")) == "a.data.x"  # data keys stay as they are
    assert spelling.value(("A", "B_C", 0, "D")) == 1
    assert spelling.value(("A", "NOPE"), "default") == "default"


@pytest.mark.parametrize(
    ("data", "key_path", "expected"),
    [
        ({"a": 1, "A": 2}, "a", "one key, not both 'a' and 'A'"),
        ({"a": {3: "x"}}, "a.3", "a string key, not int 3"),
    ],
)
def test_rename_keys_rejects_clashes_and_non_string_keys(data, key_path, expected):
    with pytest.raises(ResourceArgsError) as info:
        rename_keys(data, str.upper, resource="r")
    assert info.value.key_path == key_path
    assert expected in str(info.value)


def test_args_with_spelling_name_paths_and_values_as_written():
    data = {"outer_key": {"inner": ""}}
    renamed, spelling = rename_keys(data, str.upper, resource="r", unrename=str.lower)
    args = Args("r", renamed, spelling=spelling).child("OUTER_KEY")
    with pytest.raises(ResourceArgsError) as info:
        args.get("INNER", str, required=True)
    assert str(info.value) == "r: outer_key.inner = '': expected a string, not empty"
    with pytest.raises(ResourceArgsError, match=r"^r: outer_key\.innr = 1: .*did you mean 'inner'\?"):
        Args("r", {"INNR": 1}, parts=("OUTER_KEY",), spelling=spelling).only({"INNER"})


def test_format_path():
    assert format_path(("a", 0, "b", 1)) == "a[0].b[1]"
    assert format_path(()) == ""
    assert format_path((0,)) == "[0]"
