"""Small rich helpers shared by the commands (rich is imported only when people read output)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table whose cells are shown as text, never as markup."""
    from rich.table import Table
    from rich.text import Text

    result = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(
            *(
                cell
                if hasattr(cell, "__rich__") or hasattr(cell, "__rich_console__")
                else Text(str(cell))
                for cell in row
            )
        )
    return result


def status(value: str) -> Any:
    from rich.text import Text

    style = {
        "ok": "green",
        "loaded": "green",
        "healthy": "green",
        "failed": "bold red",
        "unhealthy": "bold red",
    }.get(value, "yellow")
    return Text(value, style=style)


def short_path(location: str) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(Path(location).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return location


def print_value(console: Console, value: Any) -> None:
    """Show a method's result: text as is, a mapping as a table, anything else pretty-printed."""
    from rich.pretty import Pretty
    from rich.text import Text

    if isinstance(value, str):
        console.print(Text(value), soft_wrap=True)  # the text as the method made it
    elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
        console.print(table(None, ("key", "value"), ((k, v) for k, v in value.items())))
    else:
        console.print(Pretty(value))


def trace_tree(root: dict[str, Any]) -> Any:
    """A traced call (``Trace.to_dict()``) as a rich tree: who ran, in what order, for how long,
    what each produced and where it failed."""
    from rich.text import Text
    from rich.tree import Tree

    def label(node: dict[str, Any]) -> Text:
        kind, name = node["kind"], node["name"]
        text = Text()
        if kind == "call":
            text.append(f"{name} for {node.get('tenant')}", style="bold")
            text.append(
                f"  (version from: {node.get('version_source')}) call {node.get('call_id')}"
            )
        elif kind == "interceptor":
            text.append("interceptor ", style="dim")
            text.append(name, style="magenta")
        elif kind in ("entry point", "plugin point"):
            text.append(f"{kind} ", style="dim")
            text.append(name, style="bold cyan")
            if node.get("policy"):
                text.append(f" ({node['policy']})", style="dim")
        else:
            text.append(f"{kind} ", style="dim")
            text.append(str(node.get("plugin")), style="green")
        text.append(f"  {node['seconds'] * 1000:.3f} ms", style="dim")
        if node.get("error"):
            style = "yellow" if node.get("isolated") else "red"
            text.append(f"  ✗ {node['error']}", style=style)
            if node.get("isolated"):
                text.append(" (isolated: result left out)", style="yellow")
        elif kind != "call" and node.get("result") is not None:
            text.append(f"  → {node['result']}")
        return text

    def grow(tree: Tree, node: dict[str, Any]) -> None:
        for child in node["children"]:
            grow(tree.add(label(child)), child)

    tree = Tree(label(root))
    grow(tree, root)
    return tree
