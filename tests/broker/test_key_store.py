"""The log keys are loaded once per process and again only after a rotation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from databases import Database

from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.errors import ConfigError
from broker.keys import KeyStore, init_keys, load_keys, rotate_keys

NOW = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)


def _spoil_reference_key(home: Path) -> None:
    """Make the keys on disk unreadable: any later load from disk fails."""
    (home / "keys" / "reference.key").write_text("not a hex key\n", encoding="ascii")


def test_the_store_loads_the_keys_once(tmp_path: Path) -> None:
    """Once loaded, the ring is served without reading the key files again."""
    settings = Settings(home=tmp_path)
    init_keys(settings)
    store = KeyStore(settings)
    first = store.ring()
    _spoil_reference_key(tmp_path)
    with pytest.raises(ConfigError):
        load_keys(settings)
    assert store.ring() is first


def test_without_keys_the_store_says_so_until_they_exist(tmp_path: Path) -> None:
    """No keys yet: a configuration error, and the ring once `keys init` has run."""
    settings = Settings(home=tmp_path)
    store = KeyStore(settings)
    with pytest.raises(ConfigError, match="broker keys init"):
        store.ring()
    init_keys(settings)
    assert store.ring().number == 1


def test_a_rotation_is_picked_up(database: Database, tmp_path: Path) -> None:
    """After `broker keys rotate` (any process), the store serves the new signing key."""
    settings = Settings(home=tmp_path)
    init_keys(settings)
    store = KeyStore(settings)
    old = store.ring()
    with session_scope(make_session_factory(database.engine)) as session:
        rotated = rotate_keys(settings, session, at=NOW)
    new = store.ring()
    assert (old.number, new.number) == (1, 2)
    assert new.signing.public_key() == rotated.signing.public_key()
    assert new.signing.public_key() != old.signing.public_key()
    assert old.signing.public_key() in new.public_keys
