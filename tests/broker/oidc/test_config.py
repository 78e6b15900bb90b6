"""The providers' file: TOML or YAML, validated once, secrets from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.access import Role
from broker.config import load_settings
from broker.errors import ConfigError
from broker.oidc import OrgFromClaim, load_oidc_config

SECRET = "tYp1cal-Cl1ent-Secret-Value"  # noqa: S105 - a test value, to look for

TOML = """
[providers.albertslund]
name = "Albertslund Kommune"
issuer = "https://login.albertslund.dk"
client_id = "renovation-broker"
client_secret_env = "ALBERTSLUND_OIDC_SECRET"
scopes = ["openid", "email", "groups"]
org = "albertslund"
role = { claim = "groups", values = { "mægler-visitator" = "visitator" } }

[providers.bo-vest]
name = "Boligselskabet Vest"
issuer = "https://id.bo-vest.dk/realms/staff"
client_id = "broker"
client_secret_env = "BO_VEST_OIDC_SECRET"
org = { claim = "groups", prefix = "org:", allowed = ["bo-vest"] }
departments = { claim = "groups", prefix = "afdeling:" }

[providers.bo-vest.grants.k-1234]
role = "coordinator"
departments = ["blokland"]
"""

YAML = """
providers:
  albertslund:
    name: Albertslund Kommune
    issuer: https://login.albertslund.dk
    client_id: renovation-broker
    client_secret_env: ALBERTSLUND_OIDC_SECRET
    org: albertslund
    role:
      claim: roles
      values: {visitator: visitator, revisor: auditor}
"""

GRANTS = "[providers.bo-vest.grants.k-1234]"
ENV = {"ALBERTSLUND_OIDC_SECRET": SECRET, "BO_VEST_OIDC_SECRET": "other-" + SECRET}


def _write(tmp_path: Path, text: str, suffix: str = ".toml") -> Path:
    path = tmp_path / f"oidc{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as refused:
        load_oidc_config(path, ENV if env is None else env)
    return str(refused.value)


def test_a_toml_file_gives_each_provider_with_its_secret_from_the_environment(
    tmp_path: Path,
) -> None:
    """Both providers are read, in the file's order, each secret from its variable."""
    config = load_oidc_config(_write(tmp_path, TOML), ENV)
    assert list(config.providers) == ["albertslund", "bo-vest"]
    albertslund, bo_vest = config.providers.values()
    assert albertslund.client_secret is not None
    assert albertslund.client_secret.get_secret_value() == SECRET
    assert albertslund.role is not None
    assert albertslund.role.values == {"mægler-visitator": Role.VISITATOR}
    assert albertslund.discovery_url == (
        "https://login.albertslund.dk/.well-known/openid-configuration"
    )
    assert isinstance(bo_vest.org, OrgFromClaim)
    assert bo_vest.grants["k-1234"].departments == ("blokland",)
    assert (bo_vest.user_id, bo_vest.contact, bo_vest.scopes) == (
        "sub",
        "email",
        ("openid", "email"),
    )
    assert SECRET not in repr(config)


def test_a_yaml_file_reads_the_same(tmp_path: Path) -> None:
    """YAML holds the same models."""
    provider = load_oidc_config(_write(tmp_path, YAML, ".yaml"), ENV).providers["albertslund"]
    assert provider.role is not None
    assert provider.role.values == {"visitator": Role.VISITATOR, "revisor": Role.AUDITOR}


def test_an_unset_secret_variable_is_named(tmp_path: Path) -> None:
    """The variable is named, so the operator knows what to set."""
    message = _refusal(_write(tmp_path, TOML), {"ALBERTSLUND_OIDC_SECRET": SECRET})
    assert "providers.bo-vest: environment variable BO_VEST_OIDC_SECRET is unset" in message


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (
            ('issuer = "https://login.albertslund.dk"', 'issuer = "http://login.albertslund.dk"'),
            "providers.albertslund.issuer: https (http only on localhost)",
        ),
        (
            ('scopes = ["openid", "email", "groups"]', 'scopes = ["email"]'),
            "scopes must include openid",
        ),
        (('org = "albertslund"', 'org = "Albertslund Kommune"'), "providers.albertslund.org"),
        (
            ('"mægler-visitator" = "visitator"', '"mægler-visitator" = "konge"'),
            "providers.albertslund.role.values.mægler-visitator",
        ),
        (
            (
                GRANTS,
                'role = { claim = "groups", values = { a = "admin" } }\n' + GRANTS,
            ),
            "give exactly one of role (a claim) and grants (a table of user ids)",
        ),
        (
            ('client_id = "broker"', 'client_id = "broker"\nclient_secret = "inline"'),
            "give exactly one of client_secret and client_secret_env",
        ),
        (
            ('client_id = "broker"', 'client_id = "broker"\nclient_scret = "typo"'),
            "providers.bo-vest.client_scret: Extra inputs are not permitted",
        ),
    ],
)
def test_a_file_breaking_a_rule_is_refused_naming_the_field_and_rule(
    tmp_path: Path, change: tuple[str, str], rule: str
) -> None:
    """Each rule is named with the field it concerns."""
    assert change[0] in TOML
    assert rule in _refusal(_write(tmp_path, TOML.replace(*change, 1)))


def test_http_is_taken_only_for_a_provider_on_this_machine(tmp_path: Path) -> None:
    """A provider run for tests or a demo on localhost may use http."""
    text = TOML.replace("https://login.albertslund.dk", "http://localhost:9000")
    config = load_oidc_config(_write(tmp_path, text), ENV)
    assert config.providers["albertslund"].issuer == "http://localhost:9000"


def test_a_refusal_never_repeats_a_value_from_the_file(tmp_path: Path) -> None:
    """A secret put where a list belongs is refused without being quoted."""
    text = TOML.replace('scopes = ["openid", "email", "groups"]', f'scopes = "{SECRET}"')
    message = _refusal(_write(tmp_path, text))
    assert "providers.albertslund.scopes" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("suffix", "text", "rule"),
    [
        (".toml", "[providers\n", "not valid TOML or YAML"),
        (".yaml", "providers: [\n", "not valid TOML or YAML"),
        (".json", "{}", "must be .toml, .yaml or .yml"),
    ],
)
def test_an_unreadable_file_is_refused(tmp_path: Path, suffix: str, text: str, rule: str) -> None:
    """Bad syntax or an unknown kind of file says so."""
    assert rule in _refusal(_write(tmp_path, text, suffix))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """The path is named; nothing else is guessed."""
    assert "cannot read the sign-in providers' file" in _refusal(tmp_path / "absent.toml")


def test_settings_name_the_file_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BROKER_OIDC_FILE sets where the providers are; unset, there are none."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BROKER_OIDC_FILE", raising=False)
    assert load_settings().oidc_file is None
    monkeypatch.setenv("BROKER_OIDC_FILE", str(tmp_path / "oidc.toml"))
    assert load_settings().oidc_file == tmp_path / "oidc.toml"


def test_the_readmes_example_file_is_valid(tmp_path: Path) -> None:
    """The example in the README's sign-in section loads as it stands."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sign-in through your organisation (OpenID Connect)", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    env = {"BROKER_OIDC_ALBERTSLUND_SECRET": SECRET, "BROKER_OIDC_BO_VEST_SECRET": SECRET}
    config = load_oidc_config(_write(tmp_path, example), env)
    assert list(config.providers) == ["albertslund", "bo-vest"]
    assert config.providers["bo-vest"].grants
