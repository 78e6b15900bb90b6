"""Settings: environment first, then broker.toml, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from broker.config import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without configuration the database is the SQLite file under ./var."""
    monkeypatch.chdir(tmp_path)
    for name in ("BROKER_HOME", "BROKER_DATABASE_URL", "BROKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.resolved_database_url == "sqlite:///var/broker.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_toml_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """broker.toml sets values; a BROKER_ variable overrides it."""
    config = tmp_path / "broker.toml"
    config.write_text('port = 9100\nlog_format = "json"\nhome = "/srv/broker"\n')
    monkeypatch.setenv("BROKER_CONFIG", str(config))
    monkeypatch.delenv("BROKER_HOME", raising=False)
    monkeypatch.delenv("BROKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("BROKER_PORT", "9200")
    settings = load_settings()
    assert settings.port == 9200
    assert settings.log_format == "json"
    assert settings.resolved_database_url == "sqlite:////srv/broker/broker.db"


def test_unknown_setting_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A misspelt key in broker.toml is an error, not silently ignored."""
    config = tmp_path / "broker.toml"
    config.write_text('databse_url = "sqlite://"\n')
    monkeypatch.setenv("BROKER_CONFIG", str(config))
    with pytest.raises(ValidationError, match="databse_url"):
        load_settings()
