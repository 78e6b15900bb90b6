"""Sign-in through an organisation's identity provider (OpenID Connect, code flow with PKCE).

No web framework here: the pages call :class:`SignInFlows` and keep its
:class:`FlowState` server-side between the two halves of a sign-in.
"""

from broker.oidc._config import (
    ClaimValues,
    Grant,
    OidcConfig,
    OrgFromClaim,
    Provider,
    RoleFromClaim,
    load_oidc_config,
)
from broker.oidc._errors import RefusalReason, SignInRefused
from broker.oidc._flow import (
    FLOW_LIFETIME,
    LEEWAY,
    FlowState,
    SignIn,
    SignInFlows,
    user_reference,
)

__all__ = [
    "FLOW_LIFETIME",
    "LEEWAY",
    "ClaimValues",
    "FlowState",
    "Grant",
    "OidcConfig",
    "OrgFromClaim",
    "Provider",
    "RefusalReason",
    "RoleFromClaim",
    "SignIn",
    "SignInFlows",
    "SignInRefused",
    "load_oidc_config",
    "user_reference",
]
