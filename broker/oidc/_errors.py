"""Why a sign-in through an identity provider was refused: one reason, never a claim's value."""

from __future__ import annotations

import enum

from broker.errors import BrokerError

__all__ = ["RefusalReason", "SignInRefused"]


class RefusalReason(enum.StrEnum):
    """Why a sign-in was refused; each has its own page and is what the log records."""

    UNKNOWN_ORG = "unknown_org"
    """No provider by that name, or the claims name an organisation it may not vouch for."""
    PROVIDER_ERROR = "provider_error"
    """The provider answered with an error, could not be reached or answered wrongly."""
    STATE_MISMATCH = "state_mismatch"
    """The answer does not belong to a sign-in this browser started."""
    FLOW_EXPIRED = "flow_expired"
    """The sign-in was started too long ago."""
    WRONG_ISSUER = "wrong_issuer"
    """The answer or the ID token comes from another issuer than the configured one."""
    BAD_SIGNATURE = "bad_signature"
    """The ID token is not signed by a key the provider publishes, or with a refused algorithm."""
    WRONG_AUDIENCE = "wrong_audience"
    """The ID token was not issued to the broker (its audience or authorised party)."""
    EXPIRED = "expired"
    """The ID token has expired."""
    NONCE_MISMATCH = "nonce_mismatch"
    """The ID token was issued for another sign-in (a replay)."""
    BAD_TOKEN = "bad_token"  # noqa: S105 - a reason's name, not a secret
    """The ID token lacks a required claim or holds one of the wrong kind."""
    NO_ROLE = "no_role"
    """The user's claims (or the grants table) give no role in the broker."""
    AMBIGUOUS_ROLE = "ambiguous_role"
    """The user's claims give more than one role."""
    INCOMPLETE_SCOPE = "incomplete_scope"
    """A coordinator without departments or without a work e-mail address."""
    DISABLED = "disabled"
    """An administrator has disabled the user in the broker."""


class SignInRefused(BrokerError):  # noqa: N818 - what happened, as NotFound and Cancelled read
    """A sign-in through an identity provider was refused, for ``reason``.

    The message names the provider and the reason only: a claim's value may be
    personal (a name, an e-mail address, a user id that is a CPR number).
    """

    def __init__(self, reason: RefusalReason, provider: str) -> None:
        """Carry the reason and the provider's id."""
        super().__init__(f"sign-in through {provider} refused: {reason}")
        self.reason, self.provider = reason, provider
