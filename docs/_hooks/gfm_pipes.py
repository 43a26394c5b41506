"""An MkDocs hook: the pages are written to read well on GitHub too.

In a GitHub table a pipe inside code must be escaped (``str \\| None``), or it splits the cell;
Python-Markdown splits no cell at a pipe inside code, and would show the backslash. So the
backslash is dropped from code in table rows before MkDocs renders a page.
"""

from __future__ import annotations

import re
from typing import Any

_CODE = re.compile(r"`[^`\n]*`")


def _unescape(match: re.Match[str]) -> str:
    return match.group(0).replace("\\|", "|")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return "\n".join(
        _CODE.sub(_unescape, line) if line.lstrip().startswith("|") else line
        for line in markdown.split("\n")
    )
