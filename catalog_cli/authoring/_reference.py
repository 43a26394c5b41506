"""The hook reference of a catalog, in Markdown, generated from its declarations: what plugin
authors implement, with signatures, policies and docstrings."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..declarations import Interface, Parameter, PluginPoint, Version
from ..declarations import _hooks as catalog_hooks
from ._python import def_line, double_quoted

_POLICIES = {
    "collect": "every non-None result, in order",
    "first": "the first non-None result wins",
    "wrap": "the catalog computes it; plugins wrap it",
}


def reference(interfaces: Mapping[str, Interface], *, title: str = "") -> dict[str, str]:
    """Markdown pages: ``index.md`` (the hooks of every catalog and the list of interfaces)
    and ``<interface>.md`` for each interface."""
    pages = {"index.md": _index(interfaces, title)}
    for interface in interfaces.values():
        pages[f"{interface.name}.md"] = _interface_page(interface)
    return pages


def single_page(interfaces: Mapping[str, Interface], *, title: str = "") -> str:
    """The whole reference as one Markdown document (each page's headings one level down)."""
    pages = reference(interfaces, title=title)
    index = pages.pop("index.md")
    for name in interfaces:  # links to pages become links to sections
        index = index.replace(f"]({name}.md)", f"](#{name})")
    parts = [index.rstrip("\n")]
    for text in pages.values():
        parts.append(
            "\n".join(
                "#" + line if line.startswith("#") else line
                for line in text.rstrip("\n").split("\n")
            )
        )
    return "\n\n".join(parts) + "\n"


def _index(interfaces: Mapping[str, Interface], title: str) -> str:
    lines = [f"# Hook reference{': ' + title if title else ''}", ""]
    lines += [
        "Generated from the catalog's declarations (`catalog docs`). A plugin implements hooks",
        "by name with `@hookimpl`; each hook of an interface takes `ctx` first.",
        "",
        "## Interfaces",
        "",
    ]
    if not interfaces:
        lines.append("This catalog declares no interfaces yet.")
    else:
        lines += ["| interface | versions | summary |", "| --- | --- | --- |"]
        for interface in interfaces.values():
            versions = ", ".join(
                f"v{n}" + (" (deprecated)" if v.deprecated is not None else "")
                for n, v in interface.versions.items()
            )
            lines.append(
                f"| [`{interface.name}`]({interface.name}.md) | {versions} | "
                f"{_cell(interface.summary)} |"
            )
    lines += ["", "## Hooks of every catalog", ""]
    lines += ["| hook | signature | what it is for |", "| --- | --- | --- |"]
    for function in catalog_hooks.ALL:
        lines.append(
            f"| `{function.__name__}` | `{_python_signature(function)}` | "
            f"{_cell(inspect.getdoc(function) or '')} |"
        )
    return "\n".join(lines) + "\n"


def _interface_page(interface: Interface) -> str:
    lines = [f"# `{interface.name}`", ""]
    if interface.doc:
        lines += [_markdown(interface.doc), ""]
    for version in interface.versions.values():
        lines += _version(version)
    return "\n".join(lines).rstrip("\n") + "\n"


def _version(version: Version) -> list[str]:
    lines = [f"## {version.interface} v{version.number}", ""]
    if version.deprecated is not None:
        sunset = f" (sunset {version.sunset})" if version.sunset else ""
        lines += [f"**Deprecated**{sunset}: {version.deprecated}", ""]
    lines += [f"Entry point `{version.hook}` (the catalog's built-in implements it):", ""]
    lines += ["```python", _signature(version.hook, version.parameters, version.returns), "```"]
    lines += ["", _markdown(version.doc) or "(no docstring)", ""]
    if not version.points:
        lines += ["No plugin points: plugins can only wrap the entry point.", ""]
        return lines
    lines += ["| plugin point | hook | policy | on error |", "| --- | --- | --- | --- |"]
    for point in version.points.values():
        policy = f"{point.policy}: {_POLICIES.get(point.policy, '')}".rstrip(": ")
        lines.append(f"| `{point.name}` | `{point.hook}` | {policy} | {point.errors} |")
    lines.append("")
    for point in version.points.values():
        lines += _point(point)
    return lines


def _point(point: PluginPoint) -> list[str]:
    return [
        f"### `{point.hook}`",
        "",
        "```python",
        _signature(point.hook, point.parameters, point.returns),
        "```",
        "",
        _markdown(point.doc) or "(no docstring)",
        "",
    ]


def _signature(hook: str, parameters: tuple[Parameter, ...], returns: str) -> str:
    shown = ["ctx"] + [
        double_quoted(f"{p.name}: {p.annotation}" + ("" if p.required else f" = {p.default!r}"))
        for p in parameters
    ]
    return def_line(hook, shown, double_quoted(returns), stub=True).rstrip("\n")


def _python_signature(function: Any) -> str:
    return f"{function.__name__}{inspect.signature(function)}".replace("'", "")


def _cell(text: str) -> str:
    first = _markdown(text).strip().split("\n", 1)[0]
    return first.replace("|", "\\|")


def _markdown(doc: str) -> str:
    """A docstring as Markdown: reStructuredText's double backticks become single ones."""
    return doc.replace("``", "`")
