"""Fixtures for push and delivery tests: a broker site with keys and a schedule in the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from databases import Database
from factories import dwelling_rows
from peers import PHASES, Site

from broker.config import Settings
from broker.keys import init_keys, load_keys


@pytest.fixture
def bare_site(database: Database, tmp_path: Path) -> Site:
    """A broker with its log keys (and their public half in a PEM file), no schedule yet."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    public_key = tmp_path / "broker-public.pem"
    public_key.write_bytes(load_keys(Settings(home=home)).public_pem())
    return Site(database, home, tmp_path, public_key)


@pytest.fixture
def site(bare_site: Site) -> Site:
    """A broker with its log keys and a schedule of six dwellings in the weekly window."""
    bare_site.ingest(dwelling_rows(6, phases=PHASES))
    return bare_site
