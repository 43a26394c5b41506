"""The plugin state file (the plugins disabled at run time) and its audit log.

The state file is kept next to the catalog file, as ``<stem>.state.json`` (for the example
catalog inside the installed package, where nothing is written, in the user's data folder;
``$CATALOG_STATE`` names another), so that a change outlives the process that made it: every
``Catalog`` of the file (a server's workers, job workers, the next start, the command line)
reads it when it loads and when it reloads. It is written whole under a temporary name and
renamed over the old one, so a reader never sees half of it; one writer at a time (an
advisory lock on ``<state file>.lock``) merges its change into what is on disk.

A state file that cannot be read, is not JSON or is not of its shape is refused, naming its
path: disabled plugins quietly coming back would be worse than a catalog that does not load.

Every change tried, applied or refused, is appended to the audit log next to it
(``<stem>.audit.jsonl``), one JSON object a line, never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import StateFileError
from ..registry import DisabledPlugins, Disabling

#: The state file's format; a newer one is refused (and never overwritten).
FORMAT: Final = 1
#: The environment variable naming the state file, over the default next to the catalog.
ENV_VAR: Final = "CATALOG_STATE"
_SUFFIX: Final = ".state.json"
_FIELDS: Final = ("plugin", "tenant", "by", "reason", "at")


def state_path(catalog_path: Path) -> Path:
    """$CATALOG_STATE, else ``<stem>.state.json`` beside the catalog file; for the example
    catalog inside the installed package, ``example.state.json`` in the user's data folder."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).absolute()
    from ..config._locate import data_dir, is_installed_example

    if is_installed_example(catalog_path):
        return data_dir() / f"example{_SUFFIX}"
    return catalog_path.absolute().with_name(f"{catalog_path.stem}{_SUFFIX}")


def audit_path(state: Path) -> Path:
    """The audit log beside the state file: ``<stem>.audit.jsonl``."""
    name = state.name
    stem = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else state.stem
    return state.with_name(f"{stem}.audit.jsonl")


def now() -> str:
    """The time now as ISO 8601 text in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment nor in the password database
        return "unknown user"


class PluginStateFile:
    """One catalog's state file and audit log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.audit = audit_path(path)

    def read(self) -> DisabledPlugins:
        """The disablings the file holds (none when there is no file); StateFileError for
        a file that cannot be used."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return DisabledPlugins()
        except OSError as exc:
            raise self._refused(f"cannot be read: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._refused("is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise self._refused(f"is not JSON (line {exc.lineno}: {exc.msg})") from None
        except RecursionError:
            raise self._refused("is not a plugin state file (nested too deep)") from None
        return DisabledPlugins(self._records(data))

    def _records(self, data: Any) -> list[Disabling]:
        if not isinstance(data, dict) or not isinstance(data.get("format"), int):
            raise self._refused('is not a plugin state file (no "format" number)')
        if data["format"] > FORMAT:
            raise self._refused(
                f"was written by a newer task-catalog (format {data['format']}; this one "
                f"reads {FORMAT})"
            )
        listed = data.get("disabled")
        if not isinstance(listed, list):
            raise self._refused('is not a plugin state file ("disabled" is not a list)')
        records = []
        for index, item in enumerate(listed):
            if not isinstance(item, dict):
                raise self._refused(f"has an entry disabled[{index}] that is not an object")
            values: dict[str, Any] = {name: item.get(name) for name in _FIELDS}
            wrong = [
                name
                for name, value in values.items()
                if not isinstance(value, str) and not (name == "tenant" and value is None)
            ]
            if wrong:
                raise self._refused(
                    f"has an entry disabled[{index}] whose {', '.join(wrong)} is missing or "
                    "not text (tenant may be null: every tenant)"
                )
            records.append(
                Disabling(
                    str(values["plugin"]),
                    values["tenant"],
                    str(values["by"]),
                    str(values["reason"]),
                    str(values["at"]),
                )
            )
        return records

    def _refused(self, why: str) -> StateFileError:
        return StateFileError(
            self.path,
            f"the plugin state file {why}; nothing was changed. Restore it, or remove it to "
            "enable every plugin disabled at run time",
        )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while the file is read, changed and written: one writer at a time, across
        processes (where advisory locks exist)."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as exc:
            raise StateFileError(
                lock, f"cannot lock the plugin state file: {exc.strerror or exc}"
            ) from None
        try:
            try:
                import fcntl
            except ImportError:  # no advisory locks here: one writer is the operator's care
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def write(self, disabled: DisabledPlugins) -> None:
        """Write ``disabled`` as the whole file: under a temporary name, synced, then
        renamed over the old file."""
        import tempfile

        data = {"format": FORMAT, "disabled": [record.to_dict() for record in disabled.records]}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        partial: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.path)
            partial = None
        except OSError as exc:
            raise StateFileError(
                self.path, f"cannot write the plugin state file: {exc.strerror or exc}"
            ) from None
        finally:
            if partial is not None:
                with contextlib.suppress(OSError):
                    os.unlink(partial)

    def check_audit(self) -> None:
        """StateFileError if the audit log cannot be appended to: a change that could not
        be told there is not made."""
        try:
            self.audit.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.audit, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            raise StateFileError(
                self.audit, f"cannot append to the audit log: {exc.strerror or exc}"
            ) from None

    def record(self, entry: Mapping[str, Any]) -> None:
        """Append ``entry`` as one line, in one write (lines of several processes never
        interleave)."""
        line = (json.dumps(dict(entry), ensure_ascii=False, default=str) + "\n").encode()
        try:
            fd = os.open(self.audit, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StateFileError(
                self.audit, f"cannot append to the audit log: {exc.strerror or exc}"
            ) from None

    def history(self) -> list[dict[str, Any]]:
        """The audit log's entries, oldest first (lines that are not JSON objects skipped)."""
        try:
            text = self.audit.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateFileError(
                self.audit, f"cannot read the audit log: {exc.strerror or exc}"
            ) from None
        entries = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                found = json.loads(line)
                if isinstance(found, dict):
                    entries.append(found)
        return entries
