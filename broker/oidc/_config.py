"""The organisations' identity providers as configured: one file, validated once.

The file (``BROKER_OIDC_FILE``, TOML or YAML) holds one table per provider, keyed
by the id that names it in the sign-in URL (``/log-ind/oidc/<id>``). Each says
where the provider is, the broker's client id and secret (or the environment
variable holding the secret, so the file can be kept in git without it), and how
the provider's claims become a role and a scope::

    [providers.albertslund]
    name = "Albertslund Kommune"
    issuer = "https://login.albertslund.dk"
    client_id = "renovation-broker"
    client_secret_env = "BROKER_OIDC_ALBERTSLUND_SECRET"
    scopes = ["openid", "email", "groups"]
    org = "albertslund"
    role = { claim = "groups", values = { "mægler-visitator" = "visitator" } }

Instead of a role claim, ``grants`` may give roles to user ids (the value of the
``user_id`` claim), for providers whose claims cannot say it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from broker.access import Role
from broker.errors import ConfigError, validation_errors

__all__ = [
    "ClaimValues",
    "Grant",
    "OidcConfig",
    "OrgFromClaim",
    "Provider",
    "RoleFromClaim",
    "load_oidc_config",
]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_CODE = r"^[a-z0-9][a-z0-9-]{1,39}$"


def _secure_url(value: str) -> str:
    """Accept an https URL, or http on this machine only (a provider run for tests or a demo)."""
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("an https URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError("https (http only on localhost)")
    if parts.query or parts.fragment:
        raise ValueError("no query or fragment")
    return value


SecureUrl = Annotated[str, Field(max_length=500), AfterValidator(_secure_url)]
Code = Annotated[str, Field(pattern=_CODE)]
"""An organisation or department code, as tokens carry them."""
ClaimName = Annotated[str, Field(min_length=1, max_length=100)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimValues(_Frozen):
    """Values read from a claim: a string or a list of strings, optionally only those with a prefix.

    ``{ claim = "groups", prefix = "afdeling:" }`` turns the groups
    ``["afdeling:blokland", "staff"]`` into ``["blokland"]``.
    """

    claim: ClaimName
    prefix: str = Field(default="", max_length=100)


class OrgFromClaim(ClaimValues):
    """The organisation from a claim, one of those the provider may vouch for."""

    allowed: tuple[Code, ...] = Field(min_length=1)


class RoleFromClaim(ClaimValues):
    """The role from a claim: each of the provider's values mapped to one of the broker's roles."""

    values: dict[str, Role] = Field(min_length=1)


class Grant(_Frozen):
    """A role given to one user id in the file, with its scope."""

    role: Role
    departments: tuple[Code, ...] = ()
    contact: str | None = Field(default=None, pattern=r"^[^\s@]{1,64}@[^\s@]{1,64}\.[a-z]{2,}$")


class Provider(_Frozen):
    """One organisation's identity provider and how its claims map to a principal."""

    name: str = Field(min_length=1, max_length=80, description="shown on the sign-in button")
    issuer: SecureUrl
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr | None = None
    client_secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")
    token_auth: str = Field(default="client_secret_basic", pattern=r"^client_secret_(basic|post)$")
    scopes: tuple[str, ...] = ("openid", "email")
    org: Code | OrgFromClaim
    user_id: ClaimName = "sub"
    role: RoleFromClaim | None = None
    grants: dict[str, Grant] = Field(default_factory=dict)
    departments: ClaimValues | None = None
    contact: ClaimName | None = "email"

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.client_secret is None) == (self.client_secret_env is None):
            raise ValueError("give exactly one of client_secret and client_secret_env")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        if (self.role is None) == (not self.grants):
            raise ValueError("give exactly one of role (a claim) and grants (a table of user ids)")
        return self

    @property
    def discovery_url(self) -> str:
        """Where the provider describes itself (OpenID Connect Discovery 1.0, section 4)."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class OidcConfig(_Frozen):
    """Every configured provider, by the id that names it in the sign-in URL."""

    providers: dict[Annotated[str, Field(pattern=_CODE)], Provider] = Field(default_factory=dict)


def _read(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in {".yaml", ".yml"}:
        return yaml.safe_load(text)
    raise ConfigError(f"{path}: the sign-in providers' file must be .toml, .yaml or .yml")


def load_oidc_config(path: Path, environ: Mapping[str, str] | None = None) -> OidcConfig:
    """Read and validate the providers' file; each ``client_secret_env`` is read from ``environ``.

    Raises:
        ConfigError: the file is missing, unreadable, not TOML/YAML, or breaks a rule (each
            field and rule named, never a value), or a secret's environment variable is unset.
    """
    env = os.environ if environ is None else environ
    try:
        document = _read(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sign-in providers' file") from exc
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid TOML or YAML") from exc
    try:
        config = OidcConfig.model_validate(document)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(loc)}: {rule}" for loc, rule in validation_errors(exc))
        # Not chained: pydantic's own message quotes the input, and a secret may be in it.
        raise ConfigError(f"{path}: {where}") from None
    providers = {}
    for key, provider in config.providers.items():
        name = provider.client_secret_env
        if name is not None:
            if not env.get(name):
                raise ConfigError(f"{path}: providers.{key}: environment variable {name} is unset")
            provider = provider.model_copy(update={"client_secret": SecretStr(env[name])})  # noqa: PLW2901 - the resolved copy
        providers[key] = provider
    # Validated above; constructed again only to hold the resolved secrets.
    return OidcConfig.model_construct(providers=providers)
