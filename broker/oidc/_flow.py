"""Signing in through an organisation's identity provider: OpenID Connect, code flow with PKCE.

:meth:`SignInFlows.begin` returns the URL to send the browser to and the flow's
state, which the edge keeps server-side until the browser comes back;
:meth:`SignInFlows.complete` takes the provider's answer at the callback, exchanges
the code, validates the ID token and returns the principal its claims give: the
same :class:`broker.access.Principal` a token gives, with the same role and scope.

Each refusal is a :class:`SignInRefused` with its reason. The application log
records the provider and the reason, and a signed-in user only by an opaque
reference: the claims (a user id, a name, an e-mail address) are never logged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from broker.access import Principal, Role
from broker.oidc._config import ClaimValues, OidcConfig, Provider, _secure_url
from broker.oidc._errors import RefusalReason, SignInRefused

__all__ = ["FLOW_LIFETIME", "LEEWAY", "FlowState", "SignIn", "SignInFlows", "user_reference"]

log = structlog.get_logger(__name__)

FLOW_LIFETIME = dt.timedelta(minutes=10)
"""How long a browser has between leaving for the provider and coming back."""
LEEWAY = 60
"""Seconds the broker's and the provider's clocks may differ, for an ID token's times."""
_DISCOVERY_SECONDS = 3600.0  # the provider's metadata is fetched again after an hour
# Asymmetric signatures only: never "none", and never HS*, which the client secret would sign.
_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# The error codes of RFC 6749 section 4.1.2.1 and OpenID Connect Core 3.1.2.6: only these
# are logged; anything else a provider sends back is logged as "other".
_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)
_TOKEN_ERROR_CODES = frozenset(
    {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client"}
    | {"unsupported_grant_type", "invalid_scope"}
)  # RFC 6749 section 5.2
_CONTACT = re.compile(r"^[^\s@]{1,64}@[^\s@]{1,64}\.[a-z]{2,}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class FlowState(BaseModel):
    """One sign-in under way: what the broker must check the provider's answer against.

    Kept server-side by the edge (never in the browser), found again by the state
    the provider sends back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    state: str = Field(min_length=32)
    nonce: str = Field(min_length=32)
    code_verifier: str = Field(min_length=43, max_length=128)
    redirect_uri: str
    started_at: AwareDatetime


@dataclass(frozen=True, slots=True)
class _Peer:
    """One provider during a sign-in: its id, its settings and its metadata."""

    id: str
    settings: Provider
    discovery: _Discovery


@dataclass(frozen=True, slots=True)
class SignIn:
    """A completed sign-in: the principal, and the user id the provider gave (its claim's value).

    ``principal.token_id`` is an opaque reference to the user (16 hex digits derived
    from the provider and the user id), what logs and records name the user by.
    """

    principal: Principal
    provider: str
    subject: str


class _Discovery(BaseModel):
    """What the broker reads of a provider's metadata (OpenID Connect Discovery 1.0, 3)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: tuple[str, ...]
    code_challenge_methods_supported: tuple[str, ...] | None = None
    authorization_response_iss_parameter_supported: bool = False


def user_reference(provider: str, subject: str) -> str:
    """Return the opaque reference to a provider's user: 16 hex digits, stable across sign-ins."""
    return hashlib.sha256(f"{provider}\0{subject}".encode()).hexdigest()[:16]


def _segment(part: str) -> Any:
    """Decode one base64url JSON segment of a compact JWS."""
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _strings(value: object) -> list[str] | None:
    """Return a claim as a list of strings (a string is one), or None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


class SignInFlows:
    """Sign-in through the configured providers, over an injected HTTP client.

    The providers' metadata is fetched on first use and cached for an hour; their
    keys (JWKS) are cached and fetched again when an ID token names a key not yet seen.
    """

    def __init__(self, config: OidcConfig, http: httpx.AsyncClient) -> None:
        """Use the providers of ``config``; every request to them goes through ``http``."""
        self._config = config
        self._http = http
        self._discovered: dict[str, tuple[float, _Discovery]] = {}
        self._keys: dict[str, KeySet] = {}

    @property
    def providers(self) -> Mapping[str, Provider]:
        """The configured providers by id, in the file's order."""
        return self._config.providers

    def provider(self, provider: str) -> Provider:
        """Return the provider ``provider`` names.

        Raises:
            SignInRefused: ``unknown_org``: no such provider (its name is not logged).
        """
        found = self._config.providers.get(provider)
        if found is None:
            # The id comes from the URL: it is not repeated in the error or the log.
            log.warning("oidc.sign_in.refused", provider=None, reason=RefusalReason.UNKNOWN_ORG)
            raise SignInRefused(RefusalReason.UNKNOWN_ORG, "an unconfigured provider")
        return found

    def _refuse(self, provider: str, reason: RefusalReason, **detail: str) -> SignInRefused:
        log.warning("oidc.sign_in.refused", provider=provider, reason=reason, **detail)
        return SignInRefused(reason, provider)

    async def _get_json(self, provider: str, url: str, what: str) -> Any:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._refuse(
                provider, RefusalReason.PROVIDER_ERROR, step=what, error=type(exc).__name__
            ) from exc

    async def _discovery(self, provider: str) -> _Discovery:
        cached = self._discovered.get(provider)
        if cached is not None and time.monotonic() - cached[0] < _DISCOVERY_SECONDS:
            return cached[1]
        settings = self._config.providers[provider]
        document = await self._get_json(provider, settings.discovery_url, "discovery")
        try:
            found = _Discovery.model_validate(document)
            for url in (found.authorization_endpoint, found.token_endpoint, found.jwks_uri):
                _secure_url(url)
        except (ValidationError, ValueError) as exc:
            raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="discovery") from exc
        # OpenID Connect Discovery 1.0, 4.3: the metadata's issuer is exactly the configured one.
        if found.issuer != settings.issuer:
            raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="discovery-issuer")
        methods = found.code_challenge_methods_supported
        if methods is not None and "S256" not in methods:
            raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="discovery-pkce")
        self._discovered[provider] = (time.monotonic(), found)
        return found

    async def _key_set(self, provider: str, kid: str | None, *, refresh: bool) -> KeySet:
        keys = self._keys.get(provider)
        known = keys is not None and (kid is None or any(key.kid == kid for key in keys.keys))
        if keys is None or (refresh and not known):
            discovery = await self._discovery(provider)
            document = await self._get_json(provider, discovery.jwks_uri, "jwks")
            try:
                keys = KeySet.import_key_set(document)
            except (JoseError, KeyError, TypeError, ValueError) as exc:
                raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="jwks") from exc
            self._keys[provider] = keys
        return keys

    async def _peer(self, provider: str) -> _Peer:
        settings = self.provider(provider)
        return _Peer(provider, settings, await self._discovery(provider))

    async def begin(
        self, provider: str, redirect_uri: str, *, now: dt.datetime
    ) -> tuple[str, FlowState]:
        """Start a sign-in: return the provider's authorization URL and the flow's state to keep.

        The URL asks for an authorization code (response_type=code) with a fresh state,
        nonce and PKCE S256 challenge; the state holds the verifier, never sent before
        the code is exchanged.

        Raises:
            SignInRefused: ``unknown_org`` (no such provider) or ``provider_error``
                (its metadata cannot be fetched or is unusable).
        """
        peer = await self._peer(provider)
        flow = FlowState(
            provider=provider,
            state=generate_token(43),
            nonce=generate_token(43),
            code_verifier=generate_token(64),
            redirect_uri=redirect_uri,
            started_at=now,
        )
        url = prepare_grant_uri(
            peer.discovery.authorization_endpoint,
            peer.settings.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(peer.settings.scopes),
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.code_verifier),
            code_challenge_method="S256",
        )
        log.info("oidc.sign_in.begun", provider=provider)
        return url, flow

    async def complete(
        self, provider: str, flow: FlowState, params: Mapping[str, str], *, now: dt.datetime
    ) -> SignIn:
        """Finish a sign-in from the provider's answer (the callback's query parameters).

        Raises:
            SignInRefused: with the reason (see :class:`RefusalReason`); nothing is kept.
        """
        self.provider(provider)
        # 1. The answer belongs to this flow, and the flow is fresh.
        if flow.provider != provider or not hmac.compare_digest(
            params.get("state", "").encode(), flow.state.encode()
        ):
            raise self._refuse(provider, RefusalReason.STATE_MISMATCH)
        if not flow.started_at <= now <= flow.started_at + FLOW_LIFETIME:
            raise self._refuse(provider, RefusalReason.FLOW_EXPIRED)
        peer = await self._peer(provider)
        # 2. The provider said no (the user cancelled, the client is not allowed ...).
        if "error" in params:
            code = params["error"] if params["error"] in _ERROR_CODES else "other"
            raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="authorize", error=code)
        # 3. RFC 9207: the answer names its issuer; another provider's answer cannot pose as it.
        names_issuer = (
            "iss" in params or peer.discovery.authorization_response_iss_parameter_supported
        )
        if names_issuer and params.get("iss") != peer.settings.issuer:
            raise self._refuse(provider, RefusalReason.WRONG_ISSUER)
        if not params.get("code"):
            raise self._refuse(provider, RefusalReason.PROVIDER_ERROR, step="authorize")
        # 4. Exchange the code, proving with the verifier that this client asked for it.
        id_token = await self._exchange(peer, flow, params["code"])
        # 5. The ID token: signed by the provider (5a), for the broker, current, for this flow (5b).
        claims = await self._verified(peer, id_token)
        self._check_claims(peer, claims, flow, now)
        # 6. The claims give a role and a scope.
        signed_in = self._principal(peer, claims)
        log.info(
            "oidc.sign_in.completed",
            provider=provider,
            user=signed_in.principal.token_id,
            role=signed_in.principal.role,
            org=signed_in.principal.org,
        )
        return signed_in

    async def _exchange(self, peer: _Peer, flow: FlowState, code: str) -> str:
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flow.redirect_uri,
                "code_verifier": flow.code_verifier,
            }
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        secret = peer.settings.client_secret
        auth = ClientAuth(
            peer.settings.client_id,
            secret.get_secret_value() if secret is not None else "",
            peer.settings.token_auth,
        )
        url, headers, body = auth.prepare("POST", peer.discovery.token_endpoint, headers, body)
        try:
            response = await self._http.post(url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise self._refuse(
                peer.id, RefusalReason.PROVIDER_ERROR, step="token", error=type(exc).__name__
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != httpx.codes.OK or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise self._refuse(
                peer.id,
                RefusalReason.PROVIDER_ERROR,
                step="token",
                status=str(response.status_code),
                error=error if error in _TOKEN_ERROR_CODES else "other",
            )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise self._refuse(peer.id, RefusalReason.PROVIDER_ERROR, step="token-no-id-token")
        return id_token

    async def _verified(self, peer: _Peer, id_token: str) -> dict[str, Any]:
        """Return the ID token's claims once its signature verifies (OIDC Core 3.1.3.7)."""
        # 1. An asymmetric algorithm the provider says it signs with.
        try:
            header = _segment(id_token.split(".", 1)[0])
        except (ValueError, binascii.Error) as exc:
            raise self._refuse(peer.id, RefusalReason.BAD_TOKEN) from exc
        if not isinstance(header, dict):
            raise self._refuse(peer.id, RefusalReason.BAD_TOKEN)
        algorithms = _ALGORITHMS & set(peer.discovery.id_token_signing_alg_values_supported)
        if header.get("alg") not in algorithms:
            raise self._refuse(peer.id, RefusalReason.BAD_SIGNATURE, step="algorithm")
        # 2. Signed by a key the provider publishes (fetched again once for a key not yet seen).
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        keys = await self._key_set(peer.id, kid, refresh=True)
        try:
            return jwt.decode(id_token, keys, algorithms=sorted(algorithms)).claims
        except JoseError as exc:
            raise self._refuse(
                peer.id, RefusalReason.BAD_SIGNATURE, error=type(exc).__name__
            ) from exc

    def _check_claims(
        self, peer: _Peer, claims: Mapping[str, Any], flow: FlowState, now: dt.datetime
    ) -> None:
        """Refuse an ID token not from the issuer, not for the broker, stale, or another flow's."""
        # 3. From the configured issuer.
        if claims.get("iss") != peer.settings.issuer:
            raise self._refuse(peer.id, RefusalReason.WRONG_ISSUER)
        # 4. For the broker: its client id among the audiences, and it the authorised party
        #    when there are several audiences (or when the provider names one anyway).
        client_id = peer.settings.client_id
        audiences = _strings(claims.get("aud"))
        if audiences is None or client_id not in audiences:
            raise self._refuse(peer.id, RefusalReason.WRONG_AUDIENCE)
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
            raise self._refuse(peer.id, RefusalReason.WRONG_AUDIENCE, step="azp")
        # 5. Current: not expired and not issued in the future, within the leeway.
        moment = now.timestamp()
        expires, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expires, int | float) or not isinstance(issued, int | float):
            raise self._refuse(peer.id, RefusalReason.BAD_TOKEN, step="times")
        if expires <= moment - LEEWAY:
            raise self._refuse(peer.id, RefusalReason.EXPIRED)
        if issued > moment + LEEWAY:
            raise self._refuse(peer.id, RefusalReason.BAD_TOKEN, step="issued-in-future")
        # 6. For this flow: the nonce sent at the start comes back (no replayed token).
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            nonce.encode(), flow.nonce.encode()
        ):
            raise self._refuse(peer.id, RefusalReason.NONCE_MISMATCH)

    def _principal(self, peer: _Peer, claims: Mapping[str, Any]) -> SignIn:
        subject = claims.get(peer.settings.user_id)
        if not isinstance(subject, str) or not subject:
            raise self._refuse(peer.id, RefusalReason.BAD_TOKEN, step="user-id")
        org = self._org(peer, claims)
        role, departments, contact = self._role_and_scope(peer, subject, claims)
        if role == Role.COORDINATOR:
            if not departments or contact is None:
                raise self._refuse(peer.id, RefusalReason.INCOMPLETE_SCOPE)
        else:
            departments, contact = (), None  # as a token: departments scope a coordinator only
        principal = Principal(user_reference(peer.id, subject), role, org, departments, contact)
        return SignIn(principal=principal, provider=peer.id, subject=subject)

    def _org(self, peer: _Peer, claims: Mapping[str, Any]) -> str:
        """The organisation: fixed for the provider, or the one claim value it may vouch for."""
        if isinstance(peer.settings.org, str):
            return peer.settings.org
        named = set(_values(claims, peer.settings.org))
        if len(named) != 1 or not named <= set(peer.settings.org.allowed):
            raise self._refuse(peer.id, RefusalReason.UNKNOWN_ORG)
        return named.pop()

    def _role_and_scope(
        self, peer: _Peer, subject: str, claims: Mapping[str, Any]
    ) -> tuple[Role, tuple[str, ...], str | None]:
        """The role, departments and contact: from the grants table or from the claims."""
        settings = peer.settings
        contact = _contact(claims, settings.contact)
        if settings.role is None:
            grant = settings.grants.get(subject)
            if grant is None:
                raise self._refuse(peer.id, RefusalReason.NO_ROLE)
            if grant.departments:
                return grant.role, grant.departments, grant.contact or contact
            role, contact = grant.role, grant.contact or contact
        else:
            mapping = settings.role.values
            roles = {mapping[value] for value in _values(claims, settings.role) if value in mapping}
            if not roles:
                raise self._refuse(peer.id, RefusalReason.NO_ROLE)
            if len(roles) > 1:
                raise self._refuse(peer.id, RefusalReason.AMBIGUOUS_ROLE)
            (role,) = roles
        departments: tuple[str, ...] = ()
        if settings.departments is not None:
            found = _values(claims, settings.departments)
            departments = tuple(sorted({code for code in found if _CODE.match(code)}))
        return role, departments, contact


def _values(claims: Mapping[str, Any], source: ClaimValues) -> list[str]:
    """Return the values of the claim ``source`` names that carry its prefix, prefix removed."""
    values = _strings(claims.get(source.claim)) or []
    return [
        value.removeprefix(source.prefix) for value in values if value.startswith(source.prefix)
    ]


def _contact(claims: Mapping[str, Any], claim: str | None) -> str | None:
    """Return the work e-mail address the claim holds, or None when there is none."""
    value = claims.get(claim) if claim is not None else None
    return value if isinstance(value, str) and _CONTACT.match(value) else None
