"""Who may call the API: bearer tokens with a role and a scope."""

from broker.access.models import Token
from broker.access.service import (
    Principal,
    Role,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
    scope_problems,
)

__all__ = [
    "Principal",
    "Role",
    "Token",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
    "scope_problems",
]
