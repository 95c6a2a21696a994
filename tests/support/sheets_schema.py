"""Check Sheets API v4 requests against Google's published discovery document.

Google publishes the API as a discovery document (``sheets.v4.json``); google-api-python-client
ships a copy, which this module loads. :func:`check_request` refuses what Google refuses:

- a method and path that are not in the document (the fake has no route: AssertionError);
- a query parameter the method does not take, or a value of the wrong type or outside its enum;
- a body field its schema does not have, recursively, a JSON value of the wrong type, a
  string outside its enum; a ``Request`` that sets no kind or more than one;
- a field mask naming a path that does not exist: the ``fields`` query parameter (against the
  method's response) and the ``fields`` of ``updateCells``, ``repeatCell``, ``appendCells``
  and every ``update*`` request (against the object the request updates).

The refusal is a :class:`SchemaViolation` carrying Google's 400 ``INVALID_ARGUMENT`` body: the
message and the ``BadRequest.fieldViolations`` entry name the field as Google does, with the
proto (snake_case) names and indexes, e.g.
``requests[0].add_chart.chart.spec.basic_chart.axis[0].view_window_options``.

Proto3 JSON rules Google's parser follows: ``null`` means "not set" for any field; 32-bit
integers may come as JSON numbers or decimal strings; doubles as numbers or the strings
``NaN``/``Infinity``/``-Infinity``. Enums are checked as strings only: this project never sends
enum numbers, so a number there is a bug worth a refusal.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import googleapiclient

DISCOVERY_PATH = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"

# The request field Google binds the HTTP body to, which prefixes the paths in its errors
# (the recorded 400 for a malformed values.update names 'data.values').
_BODY_FIELD = {"sheets.spreadsheets.values.update": "data", "sheets.spreadsheets.values.append": "data"}

# The object a request's ``fields`` mask is relative to, where it is not the request's one
# object-valued field.
_MASK_TARGET = {"UpdateCellsRequest": "CellData", "RepeatCellRequest": "CellData",
                "AppendCellsRequest": "CellData"}
_NOT_MASK_TARGETS = {"range", "start", "dataFilters", "dataSourceSheetRange"}


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    definition: dict[str, Any]


class SchemaViolation(Exception):
    """A request Google refuses with 400 INVALID_ARGUMENT; :attr:`body` is Google's answer."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        error: dict[str, Any] = {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
        if field is not None:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                 "fieldViolations": [{"field": field, "description": message}]}]
        self.body = {"error": error}


@functools.cache
def discovery() -> dict[str, Any]:
    """The discovery document google-api-python-client ships."""
    return dict(json.loads(DISCOVERY_PATH.read_text(encoding="utf-8")))


@functools.cache
def _methods() -> tuple[Method, ...]:
    found: list[Method] = []

    def walk(resource: dict[str, Any]) -> None:
        for definition in resource.get("methods", {}).values():
            regex = re.escape(definition["path"])
            regex = re.sub(r"\\\{\+?(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+?)", regex)
            found.append(Method(definition["id"], definition["httpMethod"],
                                re.compile(f"/{regex}"), definition))
        for child in resource.get("resources", {}).values():
            walk(child)

    walk(discovery())
    # Longest template first: ``values/{range}:append`` before ``values/{range}``.
    return tuple(sorted(found, key=lambda m: -len(m.definition["path"])))


def find_method(http_method: str, path: str) -> Method | None:
    """The discovery method serving ``http_method path`` (a URL path as sent, still
    percent-encoded, so a ``/`` in a sheet title cannot split a segment)."""
    for method in _methods():
        if method.http_method == http_method and method.pattern.fullmatch(path):
            return method
    return None


def check_request(http_method: str, path: str, query: dict[str, list[str]], body: Any) -> Method:
    """Given a request to sheets.googleapis.com, return its discovery method.
    Raise AssertionError if no method serves it, SchemaViolation if Google would refuse it."""
    method = find_method(http_method, path)
    if method is None:
        raise AssertionError(
            f"the fake Sheets API has no route for {http_method} {path} (not in sheets.v4.json)")
    _check_query(method, query)
    request_schema = method.definition.get("request")
    if request_schema is None:
        if body is not None:
            raise SchemaViolation("Invalid JSON payload received. Unexpected request body.")
    elif body is not None:
        prefix = _BODY_FIELD.get(method.id, "")
        _check_value(body, {"$ref": request_schema["$ref"]}, prefix)
    return method


# --------------------------------------------------------------------------- query


def _check_query(method: Method, query: dict[str, list[str]]) -> None:
    known = {**discovery()["parameters"], **method.definition.get("parameters", {})}
    for name, values in query.items():
        spec = known.get(name)
        if spec is None or spec.get("location") != "query":
            raise SchemaViolation(f"Invalid JSON payload received. Unknown name \"{name}\": "
                                  "Cannot bind query parameter. Field '" + name + "' could not be "
                                  "found in request message.")
        if len(values) > 1 and not spec.get("repeated"):
            raise SchemaViolation(f"Invalid value at '{_snake(name)}': parameter given {len(values)} times")
        for value in values:
            if "enum" in spec and value not in spec["enum"]:
                raise SchemaViolation(f"Invalid value at '{_snake(name)}' (TYPE_ENUM), \"{value}\"",
                                      _snake(name))
            if spec.get("type") == "boolean" and value.lower() not in ("true", "false"):
                raise SchemaViolation(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{value}\"",
                                      _snake(name))
            if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                raise SchemaViolation(f"Invalid value at '{_snake(name)}' (TYPE_INT32), \"{value}\"",
                                      _snake(name))
    mask = (query.get("fields") or [None])[-1]
    response = method.definition.get("response")
    if mask and response:
        try:
            check_mask(parse_fields(mask), response["$ref"])
        except _BadMask as bad:
            raise SchemaViolation(f"Request contains an invalid argument. Invalid field selection "
                                  f"{bad.path} in fields={mask}", "fields") from None


# --------------------------------------------------------------------------- body


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _join(path: str, name: str) -> str:
    return f"{path}.{_snake(name)}" if path else _snake(name)


def _type_name(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return f"type.googleapis.com/google.apps.sheets.v4.{spec['$ref']}"
    if spec.get("type") == "array" and spec.get("items", {}).get("type") == "any":
        return "type.googleapis.com/google.protobuf.ListValue"
    if "enum" in spec:
        return "TYPE_ENUM"
    return {
        ("string", None): "TYPE_STRING", ("string", "google-fieldmask"): "type.googleapis.com/google.protobuf.FieldMask",
        ("string", "google-datetime"): "type.googleapis.com/google.protobuf.Timestamp",
        ("integer", "int32"): "TYPE_INT32", ("integer", None): "TYPE_INT32",
        ("number", "double"): "TYPE_DOUBLE", ("number", "float"): "TYPE_FLOAT",
        ("boolean", None): "TYPE_BOOL", ("any", None): "type.googleapis.com/google.protobuf.Value",
    }.get((spec.get("type"), spec.get("format")), str(spec.get("type")))


def _wrong(value: Any, spec: dict[str, Any], path: str) -> SchemaViolation:
    shown = json.dumps(value)
    return SchemaViolation(f"Invalid value at '{path}' ({_type_name(spec)}), {shown}", path)


def _check_value(value: Any, spec: dict[str, Any], path: str) -> None:
    if value is None:
        return
    if "$ref" in spec:
        _check_object(value, spec["$ref"], path)
        return
    kind = spec.get("type")
    if kind == "any":
        return
    if kind == "array":
        if not isinstance(value, list):
            raise _wrong(value, spec if spec["items"].get("type") == "any" else spec["items"], path)
        if spec["items"].get("type") != "any":
            for index, item in enumerate(value):
                _check_value(item, spec["items"], f"{path}[{index}]")
        return
    if kind == "object":
        if not isinstance(value, dict):
            raise _wrong(value, spec, path)
        extra = spec.get("additionalProperties")
        for key, item in value.items():
            if extra is None:
                raise _unknown(key, path)
            _check_value(item, extra, f"{path}[{key}]")
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise _wrong(value, spec, path)
    if kind == "integer" and not _is_integer(value):
        raise _wrong(value, spec, path)
    if kind == "number" and not _is_number(value):
        raise _wrong(value, spec, path)
    if kind == "string":
        if not isinstance(value, str):
            raise _wrong(value, spec, path)
        if "enum" in spec and value not in spec["enum"]:
            raise _wrong(value, spec, path)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**31) <= value < 2**31
    if isinstance(value, float):
        return value.is_integer() and -(2**31) <= value < 2**31
    return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return value in ("NaN", "Infinity", "-Infinity")


def _unknown(key: str, path: str) -> SchemaViolation:
    where = f" at '{path}'" if path else ""
    return SchemaViolation(f"Invalid JSON payload received. Unknown name \"{key}\"{where}: "
                           "Cannot find field.", path or None)


def _check_object(value: Any, schema_name: str, path: str) -> None:
    schema = discovery()["schemas"][schema_name]
    if not isinstance(value, dict):
        raise _wrong(value, {"$ref": schema_name}, path)
    properties = schema.get("properties", {})
    for key, item in value.items():
        if key not in properties:
            raise _unknown(key, path)
        _check_value(item, properties[key], _join(path, key))
    if schema_name == "Request":
        kinds = [key for key, item in value.items() if item is not None]
        if not kinds:
            raise SchemaViolation(f"Invalid {path}: No request set.", path)
        if len(kinds) > 1:
            raise SchemaViolation(
                f"Invalid JSON payload received. Oneof field 'kind' is already set. "
                f"Cannot set '{kinds[1]}' at '{path}'", path)
    mask = value.get("fields")
    if isinstance(mask, str) and properties.get("fields", {}).get("format") == "google-fieldmask":
        target = mask_target(schema_name)
        try:
            check_mask(parse_fields(mask), target)
        except _BadMask as bad:
            kind = schema_name.removesuffix("Request")
            kind = kind[0].lower() + kind[1:]
            raise SchemaViolation(
                f"Invalid {path.rsplit('.', 1)[0]}.{kind}: Attempted to use a field mask path "
                f"'{bad.path}' that does not exist in {target}.", _join(path, "fields")) from None


def mask_target(schema_name: str) -> str:
    """The schema a ``fields`` mask in a request of ``schema_name`` is relative to."""
    if schema_name in _MASK_TARGET:
        return _MASK_TARGET[schema_name]
    properties = discovery()["schemas"][schema_name]["properties"]
    targets = [spec["$ref"] for name, spec in properties.items()
               if "$ref" in spec and name not in _NOT_MASK_TARGETS]
    assert len(targets) == 1, f"no single mask target in {schema_name}: {targets}"
    return targets[0]


# --------------------------------------------------------------------------- field masks


class _BadMask(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def parse_fields(text: str) -> dict[str, Any]:
    """Parse a field mask (``a.b,c(d,e/f)``, ``*``) into a tree of dicts. Raise ValueError if
    it is not a mask at all."""
    tree: dict[str, Any] = {}
    position = 0
    name = re.compile(r"\s*(\*|[A-Za-z0-9_]+(?:[./][A-Za-z0-9_]+)*)\s*")

    def parse_list(into: dict[str, Any]) -> None:
        nonlocal position
        while position < len(text):
            match = name.match(text, position)
            if not match:
                raise ValueError(f"bad fields mask {text!r}")
            position = match.end()
            node = into
            for part in re.split(r"[./]", match.group(1)):
                node = node.setdefault(part, {})
            if position < len(text) and text[position] == "(":
                position += 1
                parse_list(node)
                if position >= len(text) or text[position] != ")":
                    raise ValueError(f"bad fields mask {text!r}")
                position += 1
            if position < len(text) and text[position] == ",":
                position += 1
                continue
            return

    parse_list(tree)
    return tree


def check_mask(tree: dict[str, Any], schema_name: str, prefix: str = "") -> None:
    """Raise _BadMask naming the first path of ``tree`` that ``schema_name`` does not have."""
    properties = discovery()["schemas"][schema_name].get("properties", {})
    for key, sub in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if key == "*":
            continue
        spec = properties.get(key)
        if spec is None:
            raise _BadMask(path)
        while spec.get("type") == "array":
            spec = spec["items"]
        if sub:
            if "$ref" not in spec:
                raise _BadMask(f"{path}.{next(iter(sub))}")
            check_mask(sub, spec["$ref"], path)
