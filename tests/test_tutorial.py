"""The tutorial (docs/tutorial.md), run as written with the installed ``catalog`` command.

Its steps are read in order from its fenced blocks:

- a ```` ```console ```` block holds commands, each on a line starting with ``$ ``; the lines
  under a command are output it must print (on stdout or stderr), each a whole line, where
  ``...`` stands for any text;
- a block with ``title="PATH"`` is the whole new content of the file PATH, and one with
  ``title="PATH: add at the end"`` is appended to it.

The commands run in a temporary folder, one after the other; ``cd DIR`` changes the folder for
the commands after it. Each must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "docs" / "tutorial.md"
COMMAND = Path(sys.executable).parent / ("catalog.exe" if sys.platform == "win32" else "catalog")

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')
_APPEND = ": add at the end"


class Command(NamedTuple):
    line: int
    text: str
    #: output lines the command must print
    expected: tuple[str, ...]


class WriteFile(NamedTuple):
    line: int
    path: str
    content: str
    append: bool


Step = Command | WriteFile


def tutorial_steps(text: str) -> list[Step]:
    """The commands and file changes of the tutorial, in order."""
    steps: list[Step] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = lines[start:end]
        title = _TITLE.search(fence["attrs"])
        if fence["lang"] == "console":
            steps.extend(_commands(body, start + 1))
        elif title is not None:
            path = title["title"]
            append = path.endswith(_APPEND)
            if append:
                path = path[: -len(_APPEND)]
            steps.append(WriteFile(start, path, "\n".join(body) + "\n", append))
        index = end + 1
    return steps


def _commands(body: list[str], first_line: int) -> list[Command]:
    found: list[Command] = []
    for offset, line in enumerate(body):
        if line.startswith("$ "):
            found.append(Command(first_line + offset, line[2:].strip(), ()))
        elif line.strip():
            assert found, f"tutorial.md:{first_line + offset}: output before any command"
            last = found[-1]
            found[-1] = last._replace(expected=(*last.expected, line.rstrip()))
    return found


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "catalog":
        return [str(COMMAND), *words[1:]]
    if words[0] == "pytest":
        # The catalog's own tests, with this interpreter (and so this task-catalog's fixtures).
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]
    raise AssertionError(f"the tutorial runs a command this test cannot: {command!r}")


def _shows(output: list[str], expected: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("..."))
    return any(re.fullmatch(pattern, line.strip()) for line in output)


STEPS = tutorial_steps(TUTORIAL.read_text(encoding="utf-8"))


def test_the_tutorial_has_steps_this_test_can_run() -> None:
    commands = [step for step in STEPS if isinstance(step, Command)]
    assert commands[0].text == "catalog init my-catalog"
    assert commands[1].text == "cd my-catalog"
    for step in commands:
        if not step.text.startswith("cd "):
            _argv(step.text)
    assert any(isinstance(step, WriteFile) for step in STEPS)


def _scaffolding_available() -> str | None:
    """Why the tutorial cannot run here, or None."""
    if not COMMAND.is_file():
        return (
            f"the `catalog` console script is not installed next to {sys.executable} "
            "(install the project, e.g. `pip install -e .`, into this environment)"
        )
    done = subprocess.run(
        [str(COMMAND), "init", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        return "the installed `catalog` has no `init` command yet, which the tutorial starts with"
    return None


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    why = _scaffolding_available()
    if why is not None:
        pytest.skip(why)
    here = tmp_path / "tutorial"
    here.mkdir()
    nearest = [d for d in (here, *here.parents) if (d / "catalog.toml").is_file()]
    if nearest:
        pytest.skip(f"{nearest[0] / 'catalog.toml'} would be found instead of the tutorial's")
    # (tests/conftest.py removes CATALOG_FILE and CATALOG_DEBUG and sets a cache folder.)
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    for step in STEPS:
        where = f"tutorial.md:{step.line}"
        if isinstance(step, WriteFile):
            target = here / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if step.append:
                with target.open("a", encoding="utf-8") as handle:
                    handle.write("\n" + step.content)
            else:
                target.write_text(step.content, encoding="utf-8")
            continue
        if step.text.startswith("cd "):
            here = here / shlex.split(step.text)[1]
            assert here.is_dir(), where
            continue
        done = subprocess.run(
            _argv(step.text),
            cwd=here,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=300,
            check=False,
        )
        shown = f"{where}: $ {step.text}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
        assert done.returncode == 0, shown
        output = (done.stdout + "\n" + done.stderr).splitlines()
        missing = [line for line in step.expected if not _shows(output, line)]
        assert not missing, f"{shown}--- expected lines not shown\n" + "\n".join(missing)
