"""The record of processing (GDPR Art. 30(1)) of one controller, built from what is in force.

One activity per agreement (policy) in force with the organisation as its discloser:
its purpose, both legal bases, the recipient, the categories of data subjects and of
data (the fields the agreement releases, described by the field catalogue), the
retention, and the agreement's content hash with the sequence number of its
``policy-registered`` entry in the disclosure log, so each row can be proved. The
controller and its DPO come from configuration (``controllers``); the technical and
organisational measures are the ones this broker applies, with the figures of its
configuration. Nothing is typed in by hand, so the record cannot drift from what runs.

The data categories and subjects carry the keys of fideslang's taxonomy
(``user.contact.address.street``, ``customer``), and :func:`fideslang_system` gives
the record with fideslang's field names, so it maps onto common privacy tooling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from broker.config import ControllerSettings, Settings
from broker.disclosure import registered_seq
from broker.policy import Flow, Policy
from schemas import CATALOGUE, FieldClass

__all__ = [
    "FIDES_CATEGORIES",
    "Activity",
    "DataCategory",
    "Measure",
    "Record",
    "fideslang_system",
    "record_of_processing",
]

FIDES_CATEGORIES: Mapping[str, str] = {
    "afdeling": "user.contact.address",
    "adresseid": "user.contact.address",
    "vejnavn": "user.contact.address.street",
    "husnr": "user.contact.address.street",
    "etage": "user.contact.address.street",
    "doer": "user.contact.address.street",
    "postnr": "user.contact.address.postal_code",
    "postnrnavn": "user.contact.address.city",
    "kommunekode": "user.contact.address",
    "disposition": "user",
    "fase": "user",
    "startdato": "user",
    "slutdato": "user",
    "coordinator_contact": "user.contact.email",
    "outcome": "user",
    "consent_reference": "user.unique_id",
}
"""Each released datum's fideslang data category. A renovation phase of a dwelling is
personal data only through the address it belongs to: it gets the top category ``user``."""

RESIDENTS = "customer"
"""fideslang's data subject for the residents of the affected dwellings (the tenants)."""
STAFF = "employee"
"""fideslang's data subject for the coordinator whose work e-mail a contact check carries."""
_DATA_USE = "third_party_sharing"
"""fideslang's data use of every activity here: disclosure to another controller."""

_CONTACT_CHECK_EXTRA = {
    "coordinator_contact": "the requesting coordinator's work e-mail address",
}
_REPLY_DATA = {
    "outcome": "the answer: received, or resident-consents-to-contact",
    "consent_reference": "the municipality's reference for the resident's consent",
}


@dataclass(frozen=True, slots=True)
class DataCategory:
    """One datum an activity discloses: its name, what it is, its subject and fideslang key."""

    name: str
    description: str
    subject: str
    fides_key: str


@dataclass(frozen=True, slots=True)
class Activity:
    """One processing activity: the disclosure under one agreement version in force."""

    policy_id: str
    version: int
    content_hash: str
    registered_seq: int | None
    """The sequence number of the version's ``policy-registered`` log entry (None: not yet)."""
    flow: str
    purpose: str
    legal_basis_gdpr: str
    legal_basis_national: str
    discloser: str
    recipient: str
    data: tuple[DataCategory, ...]
    retention: str | None
    """An ISO 8601 duration (``P3M``): how long the released contents are kept."""
    min_dwellings: int | None
    """The fewest dwellings one release may hold (None: the flow releases one, or none)."""

    @property
    def data_subjects(self) -> tuple[str, ...]:
        """The fideslang data subjects of the data disclosed, in first-seen order."""
        return tuple(dict.fromkeys(category.subject for category in self.data))


@dataclass(frozen=True, slots=True)
class Measure:
    """One technical or organisational measure the broker applies, with its figures."""

    key: str
    facts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    """The record of processing of one controller, as made at ``made_at``."""

    org: str
    controller: ControllerSettings | None
    activities: tuple[Activity, ...]
    measures: tuple[Measure, ...]
    made_at: dt.datetime

    @property
    def transfers(self) -> tuple[str, ...]:
        """Transfers to a third country or an international organisation: there are none."""
        return ()


def _data(policy: Policy) -> tuple[DataCategory, ...]:
    if policy.flow is Flow.CONTACT_CHECK_REPLY:
        return tuple(
            DataCategory(name, text, RESIDENTS, FIDES_CATEGORIES[name])
            for name, text in _REPLY_DATA.items()
        )
    found = []
    for name in policy.fields:
        field = CATALOGUE.get(name)
        description = field.description if field is not None else name
        found.append(DataCategory(name, description, RESIDENTS, FIDES_CATEGORIES.get(name, "user")))
    if policy.flow is Flow.CONTACT_CHECK:
        found += [
            DataCategory(name, text, STAFF, FIDES_CATEGORIES[name])
            for name, text in _CONTACT_CHECK_EXTRA.items()
        ]
    return tuple(found)


def _activity(session: Session, policy: Policy) -> Activity:
    lists = policy.flow is Flow.AFFECTED_DWELLINGS
    return Activity(
        policy_id=policy.id,
        version=policy.version,
        content_hash=policy.content_hash,
        registered_seq=registered_seq(session, policy),
        flow=policy.flow.value,
        purpose=" ".join(policy.purpose.split()),
        legal_basis_gdpr=policy.legal_basis.gdpr,
        legal_basis_national=policy.legal_basis.national,
        discloser=policy.discloser,
        recipient=policy.recipient,
        data=_data(policy),
        retention=policy.retention,
        min_dwellings=policy.min_dwellings if lists else None,
    )


def _measures(settings: Settings, activities: Iterable[Activity]) -> tuple[Measure, ...]:
    recipients = {activity.recipient for activity in activities}
    sealed = {r.id for r in settings.recipients if r.public_key is not None} & recipients
    dropped = sum(1 for field in CATALOGUE.fields if field.classification is FieldClass.DROP)
    return (
        Measure("allow-list", {}),
        Measure("dropped-at-ingest", {"fields": dropped}),
        Measure("keyed-references", {}),
        Measure("signed-delivery", {}),
        Measure("sealed-delivery", {"sealed": len(sealed), "recipients": len(recipients)}),
        Measure("tamper-evident-log", {"witnesses": len(settings.witnesses)}),
        Measure("retention", {}),
        Measure(
            "access-control",
            {
                "idle_minutes": settings.session_idle_minutes,
                "failures": settings.sign_in_failures_per_account,
                "window_minutes": settings.sign_in_window_minutes,
            },
        ),
    )


def record_of_processing(
    session: Session,
    policies: Iterable[Policy],
    settings: Settings,
    org: str,
    *,
    now: dt.datetime,
) -> Record:
    """Return the record of processing of ``org`` from the agreements in force it discloses under.

    ``policies`` are the agreements in force (the server's loaded set); those with
    another discloser belong to another controller's record and are left out.
    """
    own = sorted((p for p in policies if p.discloser == org), key=lambda p: (p.id, p.version))
    activities = tuple(_activity(session, policy) for policy in own)
    controller = next((c for c in settings.controllers if c.org == org), None)
    return Record(org, controller, activities, _measures(settings, activities), now)


def fideslang_system(record: Record) -> dict[str, Any]:
    """Return the record as a fideslang ``System`` with its privacy declarations.

    fideslang's own field names; what fideslang has no field for (the agreement's
    hash and log entry, the national legal basis) is under ``broker_`` names.
    """
    controller = record.controller
    return {
        "fides_key": f"renovation-broker-{record.org}",
        "name": f"renovation-broker ({record.org})",
        "description": "Address-level data sharing in renovations, under declarative agreements",
        "organization_fides_key": record.org,
        "responsibility": ["Controller"],
        "legal_name": controller.name if controller else None,
        "legal_address": controller.contact if controller else None,
        "dpo": controller.dpo if controller else None,
        "does_international_transfers": bool(record.transfers),
        "data_security_practices": ", ".join(m.key for m in record.measures),
        "privacy_declarations": [
            {
                "name": activity.policy_id,
                "data_use": _DATA_USE,
                "data_categories": sorted({d.fides_key for d in activity.data}),
                "data_subjects": list(activity.data_subjects),
                "legal_basis_for_processing": activity.legal_basis_gdpr,
                "retention_period": activity.retention,
                "data_shared_with_third_parties": True,
                "third_parties": activity.recipient,
                "shared_categories": sorted({d.fides_key for d in activity.data}),
                "broker_purpose": activity.purpose,
                "broker_legal_basis_national": activity.legal_basis_national,
                "broker_policy_version": activity.version,
                "broker_policy_hash": activity.content_hash,
                "broker_policy_registered_seq": activity.registered_seq,
            }
            for activity in record.activities
        ],
    }
