"""Configuration: one ``Settings`` object, built at the edge and passed down.

Values come from ``BROKER_*`` environment variables, then from ``broker.toml``
(path in ``BROKER_CONFIG``, default ``./broker.toml`` when it exists), then
the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "ControllerSettings",
    "RecipientSettings",
    "Settings",
    "SmtpSettings",
    "WitnessSettings",
    "load_settings",
]

_MAILBOX = r"^[^@\s<>,;:\\\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
"""One plain address, ``visitation@albertslund.dk``: no display name, no list."""


class WitnessSettings(BaseModel):
    """One witness of the disclosure log: where it listens and its verifier key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl = Field(description="the witness's submission prefix, e.g. http://host:7380")
    key: str = Field(
        pattern=r"^[^\s+]{1,256}\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$",
        description="the witness's cosignature verifier key (name+id+key)",
    )


class RecipientSettings(BaseModel):
    """One recipient of releases and how releases reach it: a webhook or a directory drop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,39}/[a-z0-9][a-z0-9-]{1,39}$",
        description="as policies name it, e.g. albertslund/visitation",
    )
    webhook: AnyHttpUrl | None = Field(default=None, description="POST each release here")
    directory: Path | None = Field(default=None, description="or write each release here")
    public_key: Path | None = Field(
        default=None,
        description=(
            "the recipient's X25519 public key (PEM): releases are sealed to it "
            "(HPKE, broker/delivery/SEALING.md)"
        ),
    )
    notify: str | None = Field(
        default=None,
        pattern=_MAILBOX,
        max_length=254,
        description=(
            "e-mail to this address when a new list to this recipient is delivered "
            "(needs smtp); it says only that a list is ready, with a link"
        ),
    )

    @model_validator(mode="after")
    def _one_delivery(self) -> RecipientSettings:
        if (self.webhook is None) == (self.directory is None):
            raise ValueError("give exactly one of webhook and directory")
        return self


class SmtpSettings(BaseModel):
    """The mail server the broker's notifications leave through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=253, description="the SMTP server")
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(
        default=True, description="upgrade the connection with STARTTLS (refuse a server without)"
    )
    ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to trust for STARTTLS; default: system's"
    )
    user: str | None = Field(default=None, min_length=1, description="log in as this user")
    password: SecretStr | None = Field(default=None, description="the user's password")
    sender: str = Field(pattern=_MAILBOX, max_length=254, description="the From address")
    timeout: float = Field(default=10.0, gt=0, le=120, description="seconds per SMTP operation")

    @model_validator(mode="after")
    def _login_whole(self) -> SmtpSettings:
        if (self.user is None) != (self.password is None):
            raise ValueError("give both user and password, or neither")
        if self.password is not None and not self.starttls:
            raise ValueError("a password is sent only over STARTTLS: set starttls")
        return self


class ControllerSettings(BaseModel):
    """A data controller as its record of processing (GDPR Art. 30(1)(a)) names it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    org: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="the organisation, as policies name it"
    )
    name: str = Field(min_length=1, max_length=200, description="the controller's legal name")
    contact: str = Field(
        min_length=1, max_length=500, description="the controller's address and contact details"
    )
    dpo: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="the data protection officer's contact details",
    )


class Settings(BaseSettings):
    """The broker's settings."""

    model_config = SettingsConfigDict(env_prefix="BROKER_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path("var"), description="directory for the database, keys and other state"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file broker.db under home",
    )
    policies_dir: Path = Field(
        default=Path("policies"), description="directory of the policy files (*.yaml)"
    )
    key_passphrase: SecretStr | None = Field(
        default=None, description="encrypts private keys under home when set"
    )
    log_origin: str = Field(
        default="renovation-broker.localhost/disclosure-log",
        pattern=r"^[^\s+]{1,256}$",
        description="the disclosure log's name in its checkpoints (and its key name)",
    )
    witnesses: tuple[WitnessSettings, ...] = Field(
        default=(), description="witnesses that cosign each new checkpoint"
    )
    log_checkpoint_interval: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="seconds between the log's checkpoints at most: the entries sequenced"
        " meanwhile are integrated and signed together",
    )
    recipients: tuple[RecipientSettings, ...] = Field(
        default=(), description="where releases go, by recipient id"
    )
    oidc_file: Path | None = Field(
        default=None,
        description=(
            "the organisations' identity providers for signing in to the pages "
            "(TOML or YAML, see broker.oidc); none: no sign-in through an organisation"
        ),
    )
    scheduler: bool = Field(
        default=True, description="broker serve also runs scheduled releases and deliveries"
    )
    delivery_attempts: int = Field(
        default=8, ge=1, le=100, description="attempts before a release is marked failed"
    )
    delivery_backoff: float = Field(
        default=2.0, gt=0, le=3600, description="seconds before the first retry; doubles each time"
    )
    delivery_timeout: float = Field(default=10.0, gt=0, le=300, description="seconds per attempt")
    release_part_dwellings: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="a release of more dwellings (and withdrawn keys) than this is sent in"
        " numbered parts of this many, each with its own signature and receipt",
    )
    contact_check_days: int = Field(
        default=30, ge=1, le=365, description="days after which an unanswered contact check closes"
    )
    api_rate_per_minute: int = Field(
        default=120, ge=1, le=100_000, description="requests per minute per API token"
    )
    api_max_concurrency: int = Field(
        default=48,
        ge=1,
        le=1000,
        description="requests served at once; more wait their turn without holding a thread",
    )
    api_max_body: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="largest request body, in bytes"
    )
    withdraw_guard_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="an upload that would mark more than this share of a department's affected"
        " dwellings as no longer affected needs the count confirmed (--allow-withdraw N)",
    )
    controllers: tuple[ControllerSettings, ...] = Field(
        default=(),
        description="each organisation's name, contact and DPO for its record of processing",
    )
    alert_mail: str | None = Field(
        default=None,
        pattern=_MAILBOX,
        max_length=254,
        description="mail the failures a person must act on (the operator pages' banner) to"
        " this address when a new one appears (needs smtp)",
    )
    smtp: SmtpSettings | None = Field(
        default=None, description="where notifications are sent from; none: no e-mail is sent"
    )
    public_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8000"),
        description=(
            "the address users open the pages at (links in e-mails and printed links, such "
            "as set-password links); session cookies are Secure when it is https"
        ),
    )
    session_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="a page session ends after this long unused"
    )
    session_lifetime_hours: int = Field(
        default=12, ge=1, le=24 * 7, description="a page session ends this long after sign-in"
    )
    sign_in_failures_per_account: int = Field(
        default=5, ge=1, le=1000, description="failed sign-ins of one account within the window"
    )
    sign_in_failures_per_address: int = Field(
        default=50,
        ge=1,
        le=100_000,
        description="failed sign-ins from one address within the window",
    )
    sign_in_window_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="the sliding window of the sign-in rate limit"
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'broker.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no secret dirs
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init arguments, then the environment, then ``broker.toml``."""
        toml_path = Path(os.environ.get("BROKER_CONFIG", "broker.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment and ``broker.toml``, with ``overrides`` first."""
    return Settings(**overrides)  # type: ignore[arg-type]
