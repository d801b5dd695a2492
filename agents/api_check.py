"""The JSON API's request checking: a small JSON-schema subset that names the field at fault and never echoes it."""

from __future__ import annotations

from agents.errors import FieldError

MAX_ID = 2**63 - 1

_KIND_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def check(value, schema: dict, where: str = "") -> None:
    """Check types, required fields, lengths and enums; the first problem raises a FieldError naming where it is.

    Values are never echoed back: a field may hold a secret pasted by mistake.
    """
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    kind = _kind(value)
    if kinds and kind not in kinds and not (kind == "integer" and "number" in kinds):
        expected = " or ".join(_KIND_NAMES[k] for k in kinds)
        raise FieldError(where or "The body", f"must be {expected}, not {_KIND_NAMES[kind]}.")
    if "enum" in schema and value not in schema["enum"]:
        raise FieldError(where, f"must be one of: {', '.join(map(str, schema['enum']))}.")
    if kind == "string":
        if len(value.strip()) < schema.get("minLength", 0):
            raise FieldError(where, "must not be empty.")
        if len(value) > schema.get("maxLength", len(value)):
            raise FieldError(where, f"is longer than {schema['maxLength']:,} characters.")
    if kind in {"integer", "number"}:
        if value < schema.get("minimum", value):
            raise FieldError(where, f"must be at least {schema['minimum']}.")
        top = min(MAX_ID, schema.get("maximum", MAX_ID))
        if value > top or value < -MAX_ID:
            raise FieldError(where, f"is out of range (at most {top:,}).")
    if kind == "array":
        if len(value) > schema.get("maxItems", len(value)):
            raise FieldError(where, f"has more than {schema['maxItems']:,} items.")
        for i, item in enumerate(value):
            check(item, schema.get("items", {}), f"{where}[{i}]")
    if kind == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise FieldError(_join(where, name), "is required.")
        for name, item in value.items():
            if name not in props:
                raise FieldError(_join(where, name), f"is not a field here (fields: {', '.join(props)}).")
            check(item, props[name], _join(where, name))


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
