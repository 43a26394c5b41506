"""A catalog's declarations alone: as its files are now, or as a git revision holds them.

What the contract lock compares needs the interfaces and nothing else: no built-in is imported,
no plugin, no tenant is built. So a broken built-in does not stop ``catalog lock``, and reading
an old revision never runs that revision's code beyond its declarations (the hookspec modules,
which describe; they are the catalog's own).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ..config import CatalogConfig, read_config
from ..declarations import Interface, build_interfaces
from ..errors import (
    CatalogError,
    ConfigError,
    RevisionError,
    UnknownRevisionError,
)
from ._loader import ModuleLoader
from ._namespace import Folder
from ._registry import Registry

#: Seconds any one git command may take: they are all local and quick.
_GIT_TIMEOUT = 120.0


class _Declarations(Registry):
    """The part of a Registry that reads declarations, and only that part."""

    def __init__(self, config: CatalogConfig, *, fresh: bool) -> None:
        # No super().__init__: it would import the built-ins and find every plugin.
        self.config = config
        self.path = config.path
        self.loader = ModuleLoader(config.import_timeout, fresh=fresh)

    def interfaces_only(self) -> dict[str, Interface]:
        directory = self.config.hookspecs_dir
        folder = None
        if directory is not None and directory.is_dir():
            folder = Folder.of(directory)
        elif directory is not None and directory in self.config.explicit_dirs:
            problem = self.config.problem(
                ("catalog", "hookspecs_dir"), f"no such directory: {directory}"
            )
            raise ConfigError(self.config.path, [problem])
        return build_interfaces(self._declaration_modules({"hookspecs_dir": folder}))


def declared_interfaces(config: CatalogConfig, *, fresh: bool = False) -> dict[str, Interface]:
    """The interfaces the catalog of ``config`` declares, nothing else of it imported.
    ``fresh``: run the declaration modules anew, even if this process imported them before
    (their files may have changed since)."""
    return _Declarations(config, fresh=fresh).interfaces_only()


# -- at a git revision ------------------------------------------------------------------------


def _git(args: list[str], cwd: Path, revision: str) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise RevisionError(
            f"--against {revision}: git is not installed (or not on PATH); it reads the "
            "declarations at a revision",
            revision=revision,
        )
    try:
        return subprocess.run(
            [git, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
            # Messages are matched on below: in English, whatever the user's locale.
            env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"--against {revision}: git failed: {exc}", revision=revision) from None


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    text = done.stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"


def interfaces_at(path: Path, revision: str) -> dict[str, Interface]:
    """The interfaces the catalog file at ``path`` declared at git ``revision``.

    The revision's catalog file and hookspecs folder are copied into a temporary folder and
    read from there; nothing else of the revision is copied. Raises RevisionError when git is
    missing, ``path`` is not in a repository, or the revision has no such catalog (or its
    declarations do not load), UnknownRevisionError when there is no such revision.
    """
    folder = path.resolve().parent
    done = _git(["rev-parse", "--show-toplevel", "--show-prefix"], folder, revision)
    if done.returncode != 0:
        raise RevisionError(
            f"--against {revision}: {folder} is not in a git repository ({_said(done)})",
            revision=revision,
        )
    top, prefix = [*done.stdout.decode("utf-8").splitlines(), ""][:2]
    commit = _commit(folder, revision, top)
    with tempfile.TemporaryDirectory(prefix="catalog-revision-") as temporary:
        root = Path(temporary).resolve()
        file_path = PurePosixPath(prefix) / path.name
        copy = root / file_path
        shown = _git(["cat-file", "blob", f"{commit}:{file_path}"], folder, revision)
        if shown.returncode != 0:
            raise RevisionError(
                f"--against {revision}: the revision has no {file_path} (in {top})",
                revision=revision,
            )
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(shown.stdout)
        try:
            config = read_config(copy)
            if config.hookspecs_dir is not None:
                _extract(Path(top), commit, root, config.hookspecs_dir, revision)
            return declared_interfaces(config)
        except CatalogError as exc:
            if isinstance(exc, RevisionError):
                raise
            message = str(exc).replace(str(root) + os.sep, "")
            raise RevisionError(
                f"--against {revision}: the declarations at that revision do not load: {message}",
                revision=revision,
            ) from exc


def _commit(folder: Path, revision: str, top: str) -> str:
    if not revision or revision.startswith("-"):  # never read as an option of git
        raise UnknownRevisionError(revision, _names(folder, revision), repository=top)
    done = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], folder, revision)
    if done.returncode != 0:
        raise UnknownRevisionError(revision, _names(folder, revision), repository=top)
    return done.stdout.decode("ascii").strip()


def _names(folder: Path, revision: str) -> list[str]:
    """The branches and tags of the repository: the revisions people name."""
    done = _git(
        ["for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags"], folder, revision
    )
    return done.stdout.decode("utf-8", "replace").split() if done.returncode == 0 else []


def _extract(top: Path, commit: str, root: Path, directory: Path, revision: str) -> None:
    """Copy ``directory`` (a path below ``root``) as the commit holds it into ``root``; ``top``
    is the repository's top folder (a path given to git archive is relative to where it runs)."""
    try:
        inside = directory.resolve().relative_to(root)
    except ValueError:
        raise RevisionError(
            f"--against {revision}: the hookspecs folder {directory.name!r} of that revision is "
            "outside its git repository",
            revision=revision,
        ) from None
    done = _git(["archive", "--format=tar", commit, "--", inside.as_posix()], top, revision)
    if done.returncode != 0:
        return  # not in that revision: it declared nothing there (or says so, if named)
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        for member in archive.getmembers():
            target = (root / member.name).resolve()
            # Regular files only, and only below the copy: no link, no path out of it.
            if not member.isfile() or not target.is_relative_to(root):
                continue
            content = archive.extractfile(member)
            if content is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.read())
