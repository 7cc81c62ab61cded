"""The secret acknowledge links are signed with (sevflow.settings.page_link_secret), the one function
the worker and the API resolve it by: SEVFLOW_PAGE_LINK_SECRET when set, else a key made once in the
data directory, readable by its owner only, and the same for every later process."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from sevflow.errors import ConfigError
from sevflow.settings import PAGE_LINK_KEY_FILE, Settings, page_link_secret


def test_the_setting_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, page_link_secret=SecretStr("from-the-environment"))
    assert page_link_secret(settings) == "from-the-environment"
    assert list(tmp_path.iterdir()) == []


def test_without_it_a_key_is_made_once_for_its_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # not there yet: made with the key
    settings = Settings(data_dir=data_dir)
    first = page_link_secret(settings)
    key = data_dir / PAGE_LINK_KEY_FILE
    assert len(first) >= 40 and key.read_text().strip() == first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert page_link_secret(Settings(data_dir=data_dir)) == first
    assert sorted(p.name for p in data_dir.iterdir()) == [PAGE_LINK_KEY_FILE]  # nothing left aside


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: page_link_secret(settings), range(32)))
    assert len(keys) == 1 and sorted(p.name for p in tmp_path.iterdir()) == [PAGE_LINK_KEY_FILE]


def test_an_empty_key_file_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / PAGE_LINK_KEY_FILE).write_text("\n")
    with pytest.raises(ConfigError, match=r"page-link\.key is empty: delete it"):
        page_link_secret(Settings(data_dir=tmp_path))


def test_a_data_dir_it_cannot_write_is_refused_in_words(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(
        ConfigError, match=r"cannot keep the acknowledge links' key in .*: set SEVFLOW_PAGE_LINK"
    ):
        page_link_secret(Settings(data_dir=tmp_path / "a-file" / "data"))
