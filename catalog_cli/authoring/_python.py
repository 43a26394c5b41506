"""Python source as a formatter would write it, so that generated files and the code blocks of
generated docs stay as they are under black or ruff (88 columns, double quotes)."""

from __future__ import annotations

import re

#: black's and ruff's default line length
WIDTH = 88

_SINGLE_QUOTED = re.compile(r"'([^'\"\\]*)'")


def double_quoted(text: str) -> str:
    """``text`` (a repr or an annotation) with its simple single-quoted strings in double
    quotes, as formatters write them."""
    return _SINGLE_QUOTED.sub(r'"\1"', text)


def def_line(name: str, params: list[str], returns: str, *, stub: bool = False) -> str:
    """A ``def`` header (``...`` as its body if ``stub``) laid out as a formatter would: on
    one line if it fits, else the parameters on one indented line, else one per line."""
    end = ": ...\n" if stub else ":\n"
    line = f"def {name}({', '.join(params)}) -> {returns}{end}"
    if len(line) <= WIDTH + 1:
        return line
    inner = f"    {', '.join(params)}\n"
    if len(inner) <= WIDTH + 1:
        return f"def {name}(\n{inner}) -> {returns}{end}"
    return f"def {name}(\n" + "".join(f"    {p},\n" for p in params) + f") -> {returns}{end}"
