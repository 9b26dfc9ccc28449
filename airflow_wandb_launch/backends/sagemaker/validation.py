"""A CreateTrainingJob request checked against botocore's own model of the SageMaker API, before anything is sent.

Every member is walked: shape types, required members, min/max lengths and counts, ``pattern`` and ``enum``
(``TrainingInstanceType`` lists the instance types). Errors name the key path and value as the user wrote them
(through a :class:`KeySpelling`), with "did you mean" at any depth. botocore loads on first use, once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from airflow_wandb_launch.backends import BACKENDS
from airflow_wandb_launch.backends.sagemaker import RESOURCE
from airflow_wandb_launch.errors import MISSING, MissingExtraError, ResourceArgsError
from airflow_wandb_launch.launch.resource_args import KeyPath, KeySpelling, suggest

#: an S3 URI SageMaker and the Amazon provider can use: s3://, then a bucket (the model also allows https://).
S3_URI = re.compile(r"s3://[^/\s]+(/.*)?", re.S)
#: a bare IAM role name (or path/name): the backend turns it into an ARN in the connection's account.
ROLE_NAME = re.compile(r"[\w+=,.@\-/]+")
ROLE_ARN_PREFIX_LENGTH = len("arn:aws:iam::123456789012:role/")
#: names of other resources' configs, or of a wrapper: at the top of a SageMaker config, a misplaced wrapper.
WRAPPER_NAMES = frozenset({*BACKENDS, "gcp-vertex", "kubernetes", "azure", "azureml", "azure_ml", "aws", "gcp"})
#: keys this provider accepts at the top that CreateTrainingJob does not (suggested when misspelt).
EXTRA_TOP_KEYS = ("MaxWaitTimeInSeconds", "EcrRepoName", "Region", "Profile")
#: enums longer than this are not listed in full.
MAX_LISTED = 12

_TYPES = {
    "structure": "a mapping",
    "map": "a mapping",
    "list": "a list",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "true or false",
    "float": "a number",
    "double": "a number",
}
#: what a shape is, in words, where its type alone says too little (by shape name).
TYPE_HINTS = {
    "TagList": "a list of {Key: ..., Value: ...} mappings",
    "InputDataConfig": "a list of channels ({ChannelName: ..., DataSource: {S3DataSource: {...}}})",
    "TrainingEnvironmentMap": "a mapping of variable names to strings",
    "HyperParameters": "a mapping of names to strings",
}
#: what the operator adds to a list or map the user gives (by shape name), counted in SageMaker's limits.
ADDED = {
    "TrainingEnvironmentMap": "W&B's run variables and the operator's env",
    "TagList": "the W&B run id and the Airflow ids",
}
#: what a string shape's pattern means, in words (by shape name).
STRING_HINTS = {
    "S3Uri": "an s3:// URI with a bucket (s3://bucket/prefix)",
    "RoleArn": "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>) or a bare role name",
    "TrainingJobName": "1-63 letters, digits and dashes, starting with a letter or digit",
    "TagKey": "1-128 letters, digits, spaces and _.:/=+-@",
    "TagValue": "0-256 letters, digits, spaces and _.:/=+-@",
    "TrainingEnvironmentKey": "a variable name: letters, digits and _, not starting with a digit",
    "KmsKeyId": "a KMS key id, alias or ARN (letters, digits and :/_-)",
    "ChannelName": "1-64 letters, digits and .-_",
    "ExperimentEntityName": "1-120 letters, digits and dashes, starting with a letter or digit",
    "SecurityGroupId": "a security group id (sg-...)",
    "SubnetId": "a subnet id (subnet-...)",
    "FileSystemId": "a file system id (fs-...)",
}
#: Java regex classes in botocore's patterns -> Python ``re`` (broader where Python has no exact match).
_JAVA_CLASSES = {
    "L": r"\w",
    "N": r"\w",
    "Z": r"\s",
    "Alnum": "a-zA-Z0-9",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Lower": "a-z",
    "Upper": "A-Z",
    "XDigit": "0-9a-fA-F",
    "Space": r"\s",
}
_JAVA_CLASS = re.compile(r"\\p\{(\w+)\}")


@functools.cache
def request_shape() -> Any:
    """CreateTrainingJob's input shape from botocore's bundled SageMaker model (loaded once)."""
    try:
        import botocore.session
    except ImportError as err:
        raise MissingExtraError(RESOURCE, "amazon", err) from err
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("CreateTrainingJob").input_shape


def validate_training_job(body: Mapping[str, Any], spelling: KeySpelling | None = None) -> None:
    """Raise ``ResourceArgsError`` for the first member of ``body`` the SageMaker API would reject.

    :param body: the CreateTrainingJob request (CamelCase keys).
    :param spelling: how the user wrote the keys (snake_case, lower case): messages use it.
    """
    _check(request_shape(), body, (), _Context(spelling or KeySpelling(body)))


class _Context:
    """Where errors get their key path and value as written."""

    def __init__(self, spelling: KeySpelling) -> None:
        self.spelling = spelling

    def error(self, parts: KeyPath, value: Any, expected: str, *, as_given: bool = False) -> ResourceArgsError:
        shown = value if as_given else self.spelling.value(parts, value)
        return ResourceArgsError(RESOURCE, self.spelling.path(parts), shown, expected)

    def written(self, parts: KeyPath) -> Any:
        return self.spelling.value(parts, MISSING)


def _check(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    check = _CHECKS.get(shape.type_name)
    if check is not None:
        check(shape, value, parts, ctx)


def _type_error(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> ResourceArgsError:
    return ctx.error(parts, value, expected_type(shape))


def expected_type(shape: Any) -> str:
    """``shape``'s type in words (``a list of {Key: ..., Value: ...} mappings``)."""
    return TYPE_HINTS.get(shape.name, _TYPES.get(shape.type_name, shape.type_name))


def _structure(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if not isinstance(value, Mapping):
        raise _type_error(shape, value, parts, ctx)
    members = shape.members
    for key, item in value.items():
        if key not in members:
            raise _unknown_key(shape, key, item, parts, ctx)
    for name in shape.required_members:
        if value.get(name) is None:
            blank = isinstance(ctx.written((*parts, name)), str)  # written empty, so dropped
            expected = f"{expected_type(members[name])}{', not empty' if blank else ''} (required)"
            raise ctx.error((*parts, name), MISSING, expected)
    for key, item in value.items():
        _check(members[key], item, (*parts, key), ctx)


def _unknown_key(shape: Any, key: str, item: Any, parts: KeyPath, ctx: _Context) -> ResourceArgsError:
    written = ctx.spelling.name(parts, key)
    if not parts and written.lower() in WRAPPER_NAMES | {RESOURCE}:
        whose = "this resource's" if written.lower() == RESOURCE else "another resource's"
        expected = (
            f"a CreateTrainingJob key: {written!r} is {whose} wrapper; give the SageMaker config itself"
            f" (or it alone under {RESOURCE!r})"
        )
        return ctx.error((*parts, key), item, expected)
    known = [*shape.members, *(EXTRA_TOP_KEYS if not parts else ())]
    close = suggest(key, known)
    hint = f"; did you mean {ctx.spelling.name(parts, close)!r}?" if close else ""
    if len(shape.members) <= MAX_LISTED:
        listed = ", ".join(ctx.spelling.name(parts, k) for k in shape.members)
        expected = f"one of the keys of {shape.name} ({listed}){hint}"
    else:
        expected = f"one of the {len(shape.members)} keys of {shape.name} in the SageMaker API{hint}"
    return ctx.error((*parts, key), item, expected)


def _list(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if not isinstance(value, list):
        raise _type_error(shape, value, parts, ctx)
    _count(shape, value, parts, ctx, ("item", "items"))
    for i, item in enumerate(value):
        _check(shape.member, item, (*parts, i), ctx)


def _map(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if not isinstance(value, Mapping):
        raise _type_error(shape, value, parts, ctx)
    _count(shape, value, parts, ctx, ("entry", "entries"))
    for key, item in value.items():
        if not isinstance(key, str):
            raise ctx.error((*parts, str(key)), key, "a string key", as_given=True)
        problem = _string_problem(shape.key, key)
        if problem:
            raise ctx.error((*parts, key), key, f"a key that is {problem}", as_given=True)
        _check(shape.value, item, (*parts, key), ctx)


def _count(shape: Any, value: Collection[Any], parts: KeyPath, ctx: _Context, what: tuple[str, str]) -> None:
    """``value``'s length within the shape's min and max; ``what`` it holds, singular and plural."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        raise ctx.error(parts, value, f"at least {low} {what[low != 1]}")
    if high is not None and len(value) > high:
        written = ctx.written(parts)
        added = len(value) - (len(written) if isinstance(written, Collection) else 0)
        expected = f"at most {high} {what[high != 1]} (SageMaker's limit), not {len(value)}"
        if added > 0:
            expected += f", counting the {added} the operator adds ({ADDED.get(shape.name, 'its own')})"
        raise ctx.error(parts, value, expected)


def _string(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if not isinstance(value, str):
        raise _type_error(shape, value, parts, ctx)
    problem = _string_problem(shape, value)
    if problem:
        raise ctx.error(parts, value, problem)


def _string_problem(shape: Any, value: str) -> str | None:
    """What is wrong with string ``value`` for ``shape``, in words; None if nothing."""
    meta = shape.metadata
    hint = STRING_HINTS.get(shape.name)
    if shape.name == "RoleArn" and not value.startswith("arn:"):
        return _role_name_problem(value, hint)
    low, high = meta.get("min"), meta.get("max")
    if low is not None and len(value) < low:
        return f"at least {low} characters" + (f" ({hint})" if hint else "")
    if high is not None and len(value) > high:
        return f"at most {high} characters" + (f" ({hint})" if hint else "")
    if "enum" in meta and value not in meta["enum"]:
        return _enum_problem(shape, value)
    if shape.name == "S3Uri":
        return None if S3_URI.fullmatch(value) else hint
    pattern = _pattern(meta.get("pattern"))
    if pattern is not None and not pattern.fullmatch(value):
        return hint or f"a string matching {meta['pattern']}"
    return None


def _role_name_problem(value: str, hint: str | None) -> str | None:
    if ROLE_NAME.fullmatch(value) and len(value) <= 2048 - ROLE_ARN_PREFIX_LENGTH:
        return None
    return hint


def _enum_problem(shape: Any, value: str) -> str:
    enum = shape.metadata["enum"]
    if len(enum) <= MAX_LISTED:
        listed = f"one of {', '.join(enum)}"
    else:
        listed = f"one of the {len(enum)} values of {shape.name} in botocore's SageMaker model (such as {enum[0]})"
    close = f"ml.{value}" if f"ml.{value}" in enum else suggest(value, enum)
    newer = "; a type newer than this botocore needs a newer botocore" if shape.name.endswith("InstanceType") else ""
    return listed + (f"; did you mean {close!r}?" if close else "") + newer


@functools.cache
def _pattern(pattern: str | None) -> re.Pattern[str] | None:
    """A botocore (Java) pattern as a Python regex; None if it has none or Python cannot read it."""
    if pattern is None:
        return None
    try:
        return re.compile(_python_regex(pattern), re.S)
    except (re.error, KeyError):
        return None  # never reject what the API might accept


def _python_regex(pattern: str) -> str:
    """Java's ``\\p{L}`` etc. -> Python classes (inside brackets: their contents; outside: a bracket)."""
    out, depth, i = [], 0, 0
    while i < len(pattern):
        match = _JAVA_CLASS.match(pattern, i)
        if match:
            contents = _JAVA_CLASSES[match.group(1)]
            out.append(contents if depth else f"[{contents}]")
            i = match.end()
            continue
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        depth += char == "["
        depth -= char == "]" and depth > 0
        out.append(char)
        i += 1
    return "".join(out)


def _integer(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(shape, value, parts, ctx)
    _range(shape, value, parts, ctx, "an integer")


def _number(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(shape, value, parts, ctx)
    _range(shape, value, parts, ctx, "a number")


def _range(shape: Any, value: float, parts: KeyPath, ctx: _Context, kind: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            raise ctx.error(parts, value, f"{kind} from {low} to {high}")
        raise ctx.error(parts, value, f"{kind} >= {low}" if low is not None else f"{kind} <= {high}")


def _boolean(shape: Any, value: Any, parts: KeyPath, ctx: _Context) -> None:
    if not isinstance(value, bool):
        raise _type_error(shape, value, parts, ctx)


_CHECKS: dict[str, Callable[[Any, Any, KeyPath, _Context], None]] = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
}
