"""Small rich helpers shared by the commands (rich is imported only when people read output)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def plain() -> bool:
    """Whether output goes to a pipe or a file rather than to a person's terminal: then
    tables have no box drawing and nothing is wrapped."""
    from rich.console import Console

    return not Console().is_terminal


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    names: int = 1,
) -> Any:
    """A rich table whose cells are shown as text, never as markup.

    The first ``names`` columns hold ids and names: they are never wrapped. The other columns
    wrap at spaces, never inside a word. When a terminal is too narrow for that, each row is
    shown as a block of fields instead (its first cell, then the others, one per line).
    Columns without a heading make a table of fields and values, without a heading row.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [
        [
            cell
            if hasattr(cell, "__rich__") or hasattr(cell, "__rich_console__")
            else Text(str(cell))
            for cell in row
        ]
        for row in rows
    ]
    headed = any(columns)
    widths = None
    if plain():
        quick = _plain_table(title, columns, cells)
        if quick is not None:
            return quick
        result = Table(
            title=title,
            title_justify="left",
            box=None,
            show_header=headed,
            show_edge=False,
            pad_edge=False,
        )
    else:
        widths = _fit(columns, cells, names, Console().width)
        if widths is None:
            return _records(title, columns, cells)
        result = Table(
            title=title,
            title_justify="left",
            show_header=headed,
            box=box.HEAVY_HEAD if headed else box.SQUARE,
        )
    for index, column in enumerate(columns):
        width = widths[index] if widths else None
        if index < names:
            result.add_column(column, no_wrap=True, width=width)
        else:
            result.add_column(column, overflow="fold", width=width)
    for row in cells:
        result.add_row(*row)
    return result


class _Lines:
    """Lines of text that rich prints as they are (no markup, no wrapping)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Any]:
        from rich.segment import Segment

        for line in self.lines:
            yield Segment(line)
            yield Segment.line()


def _plain_table(
    title: str | None, columns: Sequence[str], cells: list[list[Any]]
) -> _Lines | None:
    """A table for a pipe as rich prints it (no box; columns two spaces apart, each as wide as
    its widest cell; every line as wide as the table), made directly: rich takes seconds for
    tens of thousands of rows. None when a cell or heading is more than one line of plain
    text, which rich then lays out itself."""
    from rich.cells import cell_len
    from rich.text import Text

    rows: list[list[str]] = []
    for row in cells:
        texts = []
        for cell in row:
            if type(cell) is not Text or "\n" in cell.plain or "\t" in cell.plain:
                return None
            texts.append(cell.plain)
        rows.append(texts)
    headings = [*columns, title or ""]
    if any(not heading.isprintable() or set(heading) & set("[]:\\") for heading in headings):
        return None  # markup or emoji codes: rich's to render
    table = [list(columns), *rows] if any(columns) else rows
    widths = [max((cell_len(row[i]) for row in table), default=0) for i in range(len(columns))]
    total = sum(widths) + 2 * (len(widths) - 1)
    if title and cell_len(title) > total:
        return None  # a title wider than the table is wrapped to it
    lines = [title + " " * (total - cell_len(title))] if title else []
    for row in table:
        padded = [
            text + " " * (width - cell_len(text)) for text, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(padded))
    return _Lines(lines)


def _fit(
    columns: Sequence[str], cells: list[list[Any]], names: int, width: int
) -> list[int | None] | None:
    """Column widths for a terminal ``width`` wide: None each where the table fits as it is;
    else widths at which no id, name or word is split; None when there are none."""
    natural: list[int] = []
    narrowest: list[int] = []
    for index, column in enumerate(columns):
        texts = [column, *(str(row[index]) for row in cells)]
        lines = [line for text in texts for line in text.split("\n")]
        natural.append(max((len(line) for line in lines), default=0))
        if index < names:
            narrowest.append(natural[-1])
        else:
            narrowest.append(max((len(word) for line in lines for word in line.split()), default=0))
    available = width - 3 * len(columns) - 1  # padding and rules
    if sum(natural) <= available:
        return [None] * len(columns)
    if sum(narrowest) > available or len(columns) < 2:
        return None
    spare = available - sum(narrowest)
    wants = [n - m for n, m in zip(natural, narrowest, strict=True)]
    total = sum(wants) or 1
    given = [m + spare * want // total for m, want in zip(narrowest, wants, strict=True)]
    return [*given]


def _records(title: str | None, columns: Sequence[str], cells: list[list[Any]]) -> Any:
    """Rows as blocks of fields, for a terminal too narrow for them side by side."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    if title:
        parts.append(Text(title, style="italic"))
    for row in cells:
        head = row[0]
        parts.append(head if not isinstance(head, Text) else Text(head.plain, style="bold"))
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="dim", no_wrap=True)
        fields.add_column(overflow="fold")
        for name, cell in zip(columns[1:], row[1:], strict=True):
            fields.add_row(name, cell)
        parts.append(Padding(fields, (0, 0, 0, 2)))
    return Group(*parts)


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
    """Show a method's result: text as is; for people, a mapping as a table and anything else
    pretty-printed; into a pipe, anything but text as JSON."""
    from rich.pretty import Pretty
    from rich.text import Text

    if isinstance(value, str):
        console.print(Text(value), soft_wrap=True)  # the text as the method made it
    elif not console.is_terminal:
        from ._session import dumps

        console.file.write(dumps(value, indent=2) + "\n")
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
        elif kind == "shadow":
            # Its answer is compared off the caller's path, after this trace has ended.
            text.append("shadow call ", style="dim")
            text.append(name, style="magenta")
            text.append(f"  {node.get('outcome')} (compared later, never answering)", style="dim")
            return text
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
