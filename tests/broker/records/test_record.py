"""The record of processing is built from the agreements in force and the log, never typed in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from clirun import run_broker
from databases import Database

from broker.config import ControllerSettings, RecipientSettings, Settings, WitnessSettings
from broker.db import make_session_factory, session_scope
from broker.disclosure import EntryFilter, entries
from broker.keys import init_keys
from broker.policy import Policy, load_policies
from broker.records import fideslang_system, record_of_processing
from broker.runner import version_recorder

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NOW = dt.datetime(2027, 2, 22, 9, 0, tzinfo=dt.UTC)
CONTROLLER = ControllerSettings(
    org="bo-vest",
    name="Boligselskabet Vest (demo)",
    contact="Demovej 1, 2620 Albertslund; post@bo-vest.example",
    dpo="dpo@bo-vest.example",
)
WITNESS_KEY = "witness.example+1a2b3c4d+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCDEFGHI"


def _settings(home: Path, **extra: object) -> Settings:
    return Settings(home=home, policies_dir=POLICIES, controllers=(CONTROLLER,), **extra)  # type: ignore[arg-type]


@pytest.fixture
def registered(database: Database, tmp_path: Path) -> Settings:
    """The shipped policies put on record in the log, as `broker serve` does at start."""
    settings = _settings(tmp_path / "home")
    init_keys(settings)
    loaded, problems = load_policies([POLICIES])
    assert not problems
    version_recorder(database.engine, settings)(tuple(loaded))
    return settings


def _policies() -> list[Policy]:
    loaded, _ = load_policies([POLICIES])
    return [item.policy for item in loaded]


def test_one_activity_per_agreement_the_org_discloses_under(
    database: Database, registered: Settings
) -> None:
    """The housing company's record: its two agreements, not the reply; each traced to the log."""
    with session_scope(make_session_factory(database.engine)) as session:
        record = record_of_processing(session, _policies(), registered, "bo-vest", now=NOW)
        registrations = {
            entry["policy_hash"]: entry["seq"]
            for entry in entries(session.connection(), EntryFilter(event="policy-registered"))
        }
    assert [a.policy_id for a in record.activities] == [
        "albertslund-contact-check",
        "albertslund-visitation-weekly",
    ]
    for activity in record.activities:
        assert activity.registered_seq == registrations[activity.content_hash]
        assert activity.legal_basis_gdpr.startswith("GDPR Art. 6")
        assert activity.legal_basis_national.startswith("Serviceloven")
    weekly = record.activities[1]
    assert (weekly.recipient, weekly.retention) == ("albertslund/visitation", "P6M")
    assert {d.name for d in weekly.data} == {
        "adresseid", "vejnavn", "husnr", "etage", "doer", "postnr", "postnrnavn",
        "fase", "startdato", "slutdato",
    }  # fmt: skip
    assert weekly.data_subjects == ("customer",)
    check = record.activities[0]
    assert check.data_subjects == ("customer", "employee")
    assert ("coordinator_contact", "user.contact.email") in {
        (d.name, d.fides_key) for d in check.data
    }
    assert record.controller == CONTROLLER
    assert record.transfers == ()


def test_the_municipalitys_record_holds_its_reply(database: Database, registered: Settings) -> None:
    """The municipality discloses the reply (received or consent): no dwelling field."""
    with session_scope(make_session_factory(database.engine)) as session:
        record = record_of_processing(session, _policies(), registered, "albertslund", now=NOW)
    assert [a.policy_id for a in record.activities] == ["albertslund-contact-check-reply"]
    assert {d.name for d in record.activities[0].data} == {"outcome", "consent_reference"}
    assert record.controller is None


def test_a_version_not_yet_on_record_says_so(database: Database, tmp_path: Path) -> None:
    """Before the server registered the agreements, no log entry is claimed for them."""
    settings = _settings(tmp_path / "home")
    with session_scope(make_session_factory(database.engine)) as session:
        record = record_of_processing(session, _policies(), settings, "bo-vest", now=NOW)
    assert [a.registered_seq for a in record.activities] == [None, None]


def test_the_measures_carry_the_configurations_figures(database: Database, tmp_path: Path) -> None:
    """Witnesses and sealed recipients are counted from the configuration, not claimed."""
    key = tmp_path / "x25519.pem"
    key.write_text("unused here\n", encoding="utf-8")
    settings = _settings(
        tmp_path / "home",
        witnesses=(WitnessSettings(url="http://127.0.0.1:7380", key=WITNESS_KEY),),  # type: ignore[arg-type]
        recipients=(
            RecipientSettings(id="albertslund/visitation", directory=tmp_path, public_key=key),  # type: ignore[arg-type]
            RecipientSettings(id="albertslund/bostoette", directory=tmp_path),  # type: ignore[arg-type]
        ),
        session_idle_minutes=20,
    )
    with session_scope(make_session_factory(database.engine)) as session:
        record = record_of_processing(session, _policies(), settings, "bo-vest", now=NOW)
    facts = {m.key: dict(m.facts) for m in record.measures}
    assert facts["sealed-delivery"] == {"sealed": 1, "recipients": 2}
    assert facts["tamper-evident-log"] == {"witnesses": 1}
    assert facts["access-control"]["idle_minutes"] == 20
    assert facts["dropped-at-ingest"]["fields"] == 9


def test_the_fideslang_form_uses_fideslangs_field_names(
    database: Database, registered: Settings
) -> None:
    """A System with privacy declarations: fideslang's names, the broker's extras prefixed."""
    with session_scope(make_session_factory(database.engine)) as session:
        record = record_of_processing(session, _policies(), registered, "bo-vest", now=NOW)
    system = fideslang_system(record)
    assert system["legal_name"] == CONTROLLER.name
    assert system["does_international_transfers"] is False
    declaration = system["privacy_declarations"][1]
    assert declaration["data_subjects"] == ["customer"]
    assert "user.contact.address.street" in declaration["data_categories"]
    assert declaration["broker_policy_hash"] == record.activities[1].content_hash
    fideslang_names = {
        "name", "data_use", "data_categories", "data_subjects", "legal_basis_for_processing",
        "retention_period", "data_shared_with_third_parties", "third_parties", "shared_categories",
    }  # fmt: skip
    assert {k for k in declaration if not k.startswith("broker_")} == fideslang_names


def test_broker_records_prints_the_record(database: Database, registered: Settings) -> None:
    """`broker records` in Danish, and as fideslang JSON; several disclosers need --org."""
    env = {
        "BROKER_POLICIES_DIR": str(POLICIES),
        "BROKER_CONTROLLERS": json.dumps([CONTROLLER.model_dump()]),
    }
    text = run_broker(database, registered.home, "records", "--org", "bo-vest", env=env)
    assert text.returncode == 0, text.stderr
    assert "a) Den dataansvarlige og databeskyttelsesrådgiveren" in text.stdout
    assert "Boligselskabet Vest (demo)" in text.stdout
    assert "Serviceloven §§ 83 og 85" in text.stdout
    assert "6 måneder" in text.stdout
    as_json = run_broker(
        database, registered.home, "records", "--org", "bo-vest", "--format", "fideslang", env=env
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["dpo"] == "dpo@bo-vest.example"
    unnamed = run_broker(database, registered.home, "records", env=env)
    assert unnamed.returncode == 1
    assert "give --org, one of: albertslund, bo-vest" in unnamed.stderr
