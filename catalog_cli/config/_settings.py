"""Per-tenant plugin settings: secrets from the environment, and validation by a plugin's schema.

A plugin's schema is a pydantic model class (``PluginMeta(settings=...)``). The catalog never
imports pydantic itself: it only calls the model's own methods, so a catalog whose plugins
declare no schema does not pay for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

#: A setting written as "${env:NAME}" takes the value of environment variable NAME at load.
ENV_REFERENCE: Final = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")

Problems = list[tuple[tuple[str, ...], str]]


def is_schema(value: Any) -> bool:
    """Whether ``value`` is a pydantic model class (duck-typed: pydantic is not imported), or
    the catalog's own :class:`Options` (used by its built-in interceptors)."""
    from ._options import Options

    return isinstance(value, Options) or (
        isinstance(value, type)
        and hasattr(value, "model_validate")
        and hasattr(value, "model_fields")
    )


#: key path of a setting -> the "${env:NAME}" reference it was resolved from
Secrets = dict[tuple[str, ...], str]


def resolve_secrets(value: Any, key: tuple[str, ...], problems: Problems, secrets: Secrets) -> Any:
    """``value`` with every "${env:NAME}" replaced by the variable's value.

    A reference must be the whole string: "Bearer ${env:KEY}" is refused rather than kept as
    text, since it is surely meant as a secret.
    """
    if isinstance(value, str):
        match = ENV_REFERENCE.match(value)
        if match is None:
            if "${env:" in value:
                problems.append(
                    (
                        key,
                        'a secret reference must be the whole value, as "${env:NAME}" '
                        "(NAME: letters, digits and _)",
                    )
                )
            return value
        found = os.environ.get(match.group(1))
        if found is None:
            problems.append((key, f"environment variable {match.group(1)} is not set"))
            return value
        secrets[key] = value
        return found
    if isinstance(value, Mapping):
        return {k: resolve_secrets(v, (*key, k), problems, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve_secrets(v, (*key, str(i)), problems, secrets) for i, v in enumerate(value)]
    return value


def _shown(path: tuple[str, ...], value: Any, secrets: Secrets) -> str:
    for length in range(len(path), 0, -1):
        reference = secrets.get(path[:length])
        if reference is not None:
            return f"{reference} (a secret: its value is not shown)"
    return repr(value)


def validate(
    schema: Any,
    values: Mapping[str, Any],
    key: tuple[str, ...],
    problems: Problems,
    secrets: Secrets,
) -> dict[str, Any]:
    """The settings checked by ``schema``, defaults filled in; problems are appended."""
    from ._options import Options

    if isinstance(schema, Options):
        return schema.validate_settings(values, key, problems)
    fields = schema.model_fields
    unknown = [name for name in values if name not in fields]
    for name in unknown:
        allowed = ", ".join(fields) or "none"
        problems.append(((*key, name), f"unknown setting (allowed: {allowed})"))
    if unknown:
        return dict(values)
    try:
        model = schema.model_validate(dict(values))
    except Exception as exc:  # pydantic.ValidationError, without importing pydantic
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            problems.append((key, f"{type(exc).__name__}: {exc}"))
            return dict(values)
        for error in errors():
            where = tuple(str(part) for part in error.get("loc", ()))
            got = error.get("input")
            missing = error.get("type") == "missing"
            shown = "nothing" if missing else _shown((*key, *where), got, secrets)
            problems.append(((*key, *where), f"{error.get('msg', 'invalid')}, got {shown}"))
        return dict(values)
    dumped: dict[str, Any] = model.model_dump()
    return dumped


def describe_schema(schema: Any) -> list[dict[str, Any]]:
    """Each setting of ``schema``: name, type, default (if any) and description."""
    from ._options import Options

    if isinstance(schema, Options):
        return schema.describe()
    rows = []
    for name, info in schema.model_fields.items():
        annotation = getattr(info, "annotation", None)
        generic = getattr(annotation, "__args__", None) is not None
        simple = None if generic else getattr(annotation, "__name__", None)
        shown = simple or str(annotation).replace("typing.", "")
        row: dict[str, Any] = {"name": name, "type": shown, "required": info.is_required()}
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            dump = getattr(default, "model_dump", None)
            row["default"] = dump(mode="json") if callable(dump) else default
        if info.description:
            row["description"] = info.description
        rows.append(row)
    return rows
