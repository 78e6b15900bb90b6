"""Sign-in through an organisation's identity provider (OpenID Connect, code flow with PKCE).

No web framework here: the pages call :class:`SignInFlows`, keep its
:class:`FlowState` server-side between the two halves of a sign-in
(:func:`keep_flow`, :func:`take_flow`) and find the broker's user for the
principal the provider's claims give (:func:`provision_user`).
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
from broker.oidc.models import OidcFlow
from broker.oidc.service import keep_flow, provision_user, take_flow, username_of

__all__ = [
    "FLOW_LIFETIME",
    "LEEWAY",
    "ClaimValues",
    "FlowState",
    "Grant",
    "OidcConfig",
    "OidcFlow",
    "OrgFromClaim",
    "Provider",
    "RefusalReason",
    "RoleFromClaim",
    "SignIn",
    "SignInFlows",
    "SignInRefused",
    "keep_flow",
    "load_oidc_config",
    "provision_user",
    "take_flow",
    "user_reference",
    "username_of",
]
