"""The entry-point cache: one scan per environment, rescanned when installs change."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from catalog_cli.config import _cache
from catalog_cli.registry import _entrypoints


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = importlib.metadata.entry_points

    def counting(*, group: str):  # type: ignore[no-untyped-def]
        asked.append(group)
        return real(group=group)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    return asked


def test_second_lookup_reads_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _count_scans(monkeypatch)
    first = _entrypoints.modules("catalog.hookspecs")
    assert asked == list(_entrypoints.GROUPS)
    assert _entrypoints.modules("catalog.hookspecs") == first
    assert _entrypoints.modules("catalog.builtin_plugins") is not None
    assert asked == list(_entrypoints.GROUPS)  # no second scan


def test_an_install_changes_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked = _count_scans(monkeypatch)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    _entrypoints.modules("catalog.hookspecs")
    (site / "new_dist-1.0.dist-info").mkdir()  # what an install does to the folder
    os.utime(site, ns=(1, 10**18))
    _entrypoints.modules("catalog.hookspecs")
    assert len(asked) == 2 * len(_entrypoints.GROUPS)


def test_no_cache_scans_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _count_scans(monkeypatch)
    monkeypatch.setenv(_cache.NO_CACHE_VAR, "1")
    _entrypoints.modules("catalog.hookspecs")
    _entrypoints.modules("catalog.hookspecs")
    assert len(asked) == 2 * len(_entrypoints.GROUPS)
    assert not list(_entrypoints.cache_dir().glob("*.json"))


def test_old_caches_are_pruned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _entrypoints.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(12):
        stale = folder / f"entry-points-stale{index}.json"
        stale.write_text("{}")
        os.utime(stale, (index, index))
    _entrypoints.modules("catalog.hookspecs")
    assert len(list(folder.glob("entry-points-*.json"))) == 8


def test_unwritable_cache_still_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(_cache.CACHE_DIR_VAR, str(blocker / "cache"))
    assert isinstance(_entrypoints.modules("catalog.hookspecs"), list)


def test_entry_points_edited_in_place_are_seen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    info = site / "acme_inplace-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-inplace\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[catalog.plugins]\nacme.one = acme_one\n")
    monkeypatch.syspath_prepend(str(site))
    names = [ep.name for ep in _entrypoints.entries("catalog.plugins")]
    assert "acme.one" in names
    folder_mtime = site.stat().st_mtime_ns
    (info / "entry_points.txt").write_text(
        "[catalog.plugins]\nacme.one = acme_one\nacme.two = acme_two\n"
    )
    os.utime(info / "entry_points.txt", ns=(1, 10**18))
    os.utime(site, ns=(folder_mtime, folder_mtime))  # the folder itself did not change
    names = [ep.name for ep in _entrypoints.entries("catalog.plugins")]
    assert "acme.two" in names
