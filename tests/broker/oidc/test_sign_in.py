"""Sign-in through an organisation's identity provider, against a real OpenID Connect provider.

The provider is pytest-iam's Canaille server on 127.0.0.1; every sign-in goes through
its login, password and consent pages over HTTP, and the broker's side talks to it
over HTTP too. Only time is moved (the ``now`` the broker checks an ID token at).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from oidc_provider import (
    CALLBACK,
    TamperingProxy,
    add_user,
    cpr_like,
    issuer,
    log_in,
    provider_settings,
    register_client,
)
from peers import free_port
from structlog.testing import capture_logs

from broker.access import Principal, Role
from broker.oidc import (
    FLOW_LIFETIME,
    LEEWAY,
    OidcConfig,
    Provider,
    RefusalReason,
    SignIn,
    SignInFlows,
    SignInRefused,
    user_reference,
)

pytestmark = pytest.mark.anyio

ID = "albertslund"
VISITATOR, COORDINATOR = "mægler-visitator", "mægler-koordinator"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def requested() -> list[str]:
    """The URL of every request the broker sent, in order."""
    return []


@pytest.fixture
async def http(requested: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    async def record(request: httpx.Request) -> None:
        requested.append(str(request.url))

    async with httpx.AsyncClient(timeout=30, event_hooks={"request": [record]}) as client:
        yield client


@pytest.fixture
def client(iam_server: Any) -> tuple[str, str]:
    """A client of the broker's on the provider: its id and secret."""
    return register_client(iam_server)


def _flows(http: httpx.AsyncClient, settings: Provider) -> SignInFlows:
    return SignInFlows(OidcConfig(providers={ID: settings}), http)


async def _sign_in(
    flows: SignInFlows,
    user: tuple[str, str],
    *,
    now: dt.datetime | None = None,
    answer: Mapping[str, str] | None = None,
) -> SignIn:
    """Run a whole sign-in as ``user``: begin, the provider's pages, complete."""
    at = now or _now()
    url, flow = await flows.begin(ID, CALLBACK, now=at)
    params = log_in(url, *user)
    return await flows.complete(ID, flow, {**params, **(answer or {})}, now=at)


async def _refused(flows: SignInFlows, user: tuple[str, str], **kwargs: Any) -> RefusalReason:
    with pytest.raises(SignInRefused) as refused:
        await _sign_in(flows, user, **kwargs)
    return refused.value.reason


async def test_a_visitator_signs_in_through_the_provider(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """A code flow with PKCE through the provider's pages gives the visitator's principal."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,), emails=["visitation@albertslund.dk"])
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    asked = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{issuer(iam_server)}/oauth/authorize?")
    assert asked == {
        "response_type": "code",
        "client_id": client[0],
        "redirect_uri": CALLBACK,
        "scope": "openid email profile phone groups",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": create_s256_code_challenge(flow.code_verifier),
        "code_challenge_method": "S256",
    }
    assert flow.code_verifier not in url
    params = log_in(url, *user)
    signed_in = await flows.complete(ID, flow, params, now=_now())
    assert signed_in.principal == Principal(
        user_reference(ID, user[0]), Role.VISITATOR, "albertslund", (), None
    )
    assert (signed_in.subject, signed_in.provider) == (user[0], ID)


async def test_each_flow_has_its_own_state_nonce_and_verifier(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """Two sign-ins started at once share no secret."""
    flows = _flows(http, provider_settings(iam_server, *client))
    (_, one), (_, two) = [await flows.begin(ID, CALLBACK, now=_now()) for _ in range(2)]
    assert {one.state, one.nonce, one.code_verifier}.isdisjoint(
        {two.state, two.nonce, two.code_verifier}
    )


async def test_a_coordinator_has_departments_and_a_work_contact_from_the_claims(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """Departments come from prefixed groups (invalid codes left out), the contact from e-mail."""
    settings = provider_settings(
        iam_server,
        *client,
        org="bo-vest",
        departments={"claim": "groups", "prefix": "afdeling:"},
    )
    groups = (COORDINATOR, "afdeling:blokland", "afdeling:hede-nord", "afdeling:Ikke en kode")
    user = add_user(iam_server, groups=groups, emails=["koordinator@bo-vest.dk"])
    signed_in = await _sign_in(_flows(http, settings), user)
    assert signed_in.principal == Principal(
        user_reference(ID, user[0]),
        Role.COORDINATOR,
        "bo-vest",
        ("blokland", "hede-nord"),
        "koordinator@bo-vest.dk",
    )


async def test_a_coordinator_without_departments_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """A coordinator's scope is its departments: none in the claims, no sign-in."""
    settings = provider_settings(
        iam_server, *client, departments={"claim": "groups", "prefix": "afdeling:"}
    )
    user = add_user(iam_server, groups=(COORDINATOR,), emails=["koordinator@bo-vest.dk"])
    assert await _refused(_flows(http, settings), user) == RefusalReason.INCOMPLETE_SCOPE


async def test_the_grants_table_gives_roles_to_user_ids_instead_of_a_claim(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """A user id in the grants table has its role and departments; the contact is its e-mail."""
    user = add_user(iam_server, emails=["k@bo-vest.dk"])
    grants = {user[0]: {"role": "coordinator", "departments": ["blokland"]}}
    settings = provider_settings(iam_server, *client, org="bo-vest", role=None, grants=grants)
    signed_in = await _sign_in(_flows(http, settings), user)
    assert signed_in.principal == Principal(
        user_reference(ID, user[0]), Role.COORDINATOR, "bo-vest", ("blokland",), "k@bo-vest.dk"
    )
    stranger = add_user(iam_server, groups=(VISITATOR,))
    assert await _refused(_flows(http, settings), stranger) == RefusalReason.NO_ROLE


async def test_a_user_whose_claims_give_no_role_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """Groups the mapping does not name, or none at all, give no role."""
    flows = _flows(http, provider_settings(iam_server, *client))
    assert await _refused(flows, add_user(iam_server, groups=("kantine",))) == RefusalReason.NO_ROLE
    assert await _refused(flows, add_user(iam_server)) == RefusalReason.NO_ROLE


async def test_claims_giving_two_roles_are_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """A user in the groups of two roles is not given either."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR, COORDINATOR), emails=["a@b.dk"])
    assert await _refused(flows, user) == RefusalReason.AMBIGUOUS_ROLE


async def test_the_organisation_comes_from_a_claim_among_those_allowed(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """An organisation claim is taken only for an organisation the provider may vouch for."""
    org = {"claim": "groups", "prefix": "org:", "allowed": ["bo-vest", "kab"]}
    flows = _flows(http, provider_settings(iam_server, *client, org=org))
    ours = add_user(iam_server, groups=(VISITATOR, "org:kab"))
    assert (await _sign_in(flows, ours)).principal.org == "kab"
    theirs = add_user(iam_server, groups=(VISITATOR, "org:albertslund"))
    assert await _refused(flows, theirs) == RefusalReason.UNKNOWN_ORG
    both = add_user(iam_server, groups=(VISITATOR, "org:kab", "org:bo-vest"))
    assert await _refused(flows, both) == RefusalReason.UNKNOWN_ORG


async def test_an_id_token_issued_to_another_client_is_refused(
    iam_server: Any, http: httpx.AsyncClient
) -> None:
    """The provider issues the broker's ID tokens to another audience: wrong audience."""
    other, _ = register_client(iam_server)
    ours = register_client(iam_server, issued_to_self=False, audience=(other,))
    flows = _flows(http, provider_settings(iam_server, *ours))
    user = add_user(iam_server, groups=(VISITATOR,))
    assert await _refused(flows, user) == RefusalReason.WRONG_AUDIENCE


async def test_an_id_token_for_several_audiences_without_an_authorised_party_is_refused(
    iam_server: Any, http: httpx.AsyncClient
) -> None:
    """The broker among several audiences is not enough: azp must name it."""
    other, _ = register_client(iam_server)
    ours = register_client(iam_server, audience=(other,))
    flows = _flows(http, provider_settings(iam_server, *ours))
    user = add_user(iam_server, groups=(VISITATOR,))
    with capture_logs() as events:
        assert await _refused(flows, user) == RefusalReason.WRONG_AUDIENCE
    assert [e.get("step") for e in events if e["event"] == "oidc.sign_in.refused"] == ["azp"]


async def test_an_expired_id_token_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """The provider's ID tokens live an hour: checked later than that (beyond the leeway), refused.

    Within the leeway the same token is still taken.
    """
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    lifetime = dt.timedelta(hours=1)
    before = _now()
    within = before + lifetime + dt.timedelta(seconds=LEEWAY - 40)
    assert (await _sign_in(flows, user, now=within)).principal.role == Role.VISITATOR
    url, flow = await flows.begin(ID, CALLBACK, now=_now() + lifetime)
    params = log_in(url, *user)
    beyond = _now() + lifetime + dt.timedelta(seconds=LEEWAY + 10)
    with pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, flow, params, now=beyond)
    assert refused.value.reason == RefusalReason.EXPIRED


async def test_an_id_token_whose_claims_were_altered_is_refused(
    iam_server: Any, client: tuple[str, str]
) -> None:
    """A man in the middle who rewrites the ID token's groups breaks its signature."""
    settings = provider_settings(iam_server, *client)
    user = add_user(iam_server, groups=(VISITATOR,))
    with TamperingProxy().running() as proxy:
        async with httpx.AsyncClient(proxy=proxy.url, timeout=30) as through_proxy:
            flows = _flows(through_proxy, settings)
            assert (await _sign_in(flows, user)).principal.role == Role.VISITATOR  # untouched
            proxy.rewrite = lambda claims: {**claims, "groups": ["mægler-koordinator"]}
            assert await _refused(flows, user) == RefusalReason.BAD_SIGNATURE
    assert proxy.rewritten == 1


async def test_an_answer_with_another_flows_state_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """The provider's answer to one sign-in cannot complete another (nor one without state)."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, _ = await flows.begin(ID, CALLBACK, now=_now())
    _, other = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user)
    for answer in (params, {k: v for k, v in params.items() if k != "state"}):
        with pytest.raises(SignInRefused) as refused:
            await flows.complete(ID, other, answer, now=_now())
        assert refused.value.reason == RefusalReason.STATE_MISMATCH


async def test_an_id_token_with_another_flows_nonce_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """An ID token issued for another sign-in's nonce is a replay."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    _, other = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user)
    with pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, flow.model_copy(update={"nonce": other.nonce}), params, now=_now())
    assert refused.value.reason == RefusalReason.NONCE_MISMATCH


async def test_a_code_is_exchanged_only_with_its_flows_verifier(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """PKCE: the provider refuses the code with another flow's verifier."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    _, other = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user)
    wrong = flow.model_copy(update={"code_verifier": other.code_verifier})
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, wrong, params, now=_now())
    assert refused.value.reason == RefusalReason.PROVIDER_ERROR
    assert (events[-1]["step"], events[-1]["error"]) == ("token", "invalid_grant")


async def test_a_code_is_exchanged_only_once(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """The provider's answer replayed at the callback fails at the provider."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user)
    assert (await flows.complete(ID, flow, params, now=_now())).principal.role == Role.VISITATOR
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, flow, params, now=_now())
    assert refused.value.reason == RefusalReason.PROVIDER_ERROR
    assert (events[-1]["step"], events[-1]["error"]) == ("token", "invalid_grant")


async def test_a_user_who_declines_at_the_provider_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """Declining on the provider's consent page comes back as access_denied."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user, answer="deny")
    assert params["error"] == "access_denied"
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, flow, params, now=_now())
    assert refused.value.reason == RefusalReason.PROVIDER_ERROR
    assert events[-1]["error"] == "access_denied"


async def test_an_answer_naming_another_issuer_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """RFC 9207: the provider names itself in its answer; an answer naming another is refused."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    url, flow = await flows.begin(ID, CALLBACK, now=_now())
    params = log_in(url, *user)
    assert params["iss"] == issuer(iam_server)
    for answer in ({**params, "iss": "https://login.example"}, {"code": params["code"]}):
        with pytest.raises(SignInRefused) as refused:
            await flows.complete(ID, flow, {**answer, "state": flow.state}, now=_now())
        assert refused.value.reason == RefusalReason.WRONG_ISSUER


async def test_a_sign_in_left_too_long_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """The browser must come back within the flow's lifetime."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    started = _now()
    url, flow = await flows.begin(ID, CALLBACK, now=started)
    params = log_in(url, *user)
    late = started + FLOW_LIFETIME + dt.timedelta(seconds=1)
    with pytest.raises(SignInRefused) as refused:
        await flows.complete(ID, flow, params, now=late)
    assert refused.value.reason == RefusalReason.FLOW_EXPIRED


async def test_an_unknown_provider_is_refused_without_repeating_its_name(
    http: httpx.AsyncClient,
) -> None:
    """The provider's id comes from the URL: it is neither logged nor put in the error."""
    flows = SignInFlows(OidcConfig(), http)
    planted = "0102031234"
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await flows.begin(planted, CALLBACK, now=_now())
    assert refused.value.reason == RefusalReason.UNKNOWN_ORG
    assert planted not in str(refused.value)
    assert planted not in json.dumps(events, default=str)


async def test_metadata_naming_another_issuer_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """Issuers compare exactly: configured with a trailing slash, the provider is not it."""
    settings = provider_settings(iam_server, *client, issuer=issuer(iam_server) + "/")
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await _flows(http, settings).begin(ID, CALLBACK, now=_now())
    assert refused.value.reason == RefusalReason.PROVIDER_ERROR
    assert events[-1]["step"] == "discovery-issuer"


async def test_an_unreachable_provider_is_refused(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """No provider listening: a provider error, the kind of failure logged."""
    settings = provider_settings(iam_server, *client, issuer=f"http://127.0.0.1:{free_port()}")
    with capture_logs() as events, pytest.raises(SignInRefused) as refused:
        await _flows(http, settings).begin(ID, CALLBACK, now=_now())
    assert refused.value.reason == RefusalReason.PROVIDER_ERROR
    assert events[-1]["error"] == "ConnectError"


async def test_metadata_and_keys_are_fetched_once_for_many_sign_ins(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str], requested: list[str]
) -> None:
    """Two sign-ins: the metadata and the keys once, the token endpoint twice."""
    flows = _flows(http, provider_settings(iam_server, *client))
    user = add_user(iam_server, groups=(VISITATOR,))
    for _ in range(2):
        await _sign_in(flows, user)
    base = issuer(iam_server)
    assert requested == [
        f"{base}/.well-known/openid-configuration",
        f"{base}/oauth/token",
        f"{base}/oauth/jwks.json",
        f"{base}/oauth/token",
    ]


async def test_no_claim_value_reaches_the_log_or_a_refusal(
    iam_server: Any, http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    """A CPR number as user id, a name, a phone number and an e-mail address stay out of the log.

    Both for a sign-in that succeeds and for one refused; the user appears by reference only.
    """
    flows = _flows(http, provider_settings(iam_server, *client))
    cpr = cpr_like()
    planted = {
        "user_name": cpr,
        "formatted_name": "Jens Hansen",
        "phone_numbers": ["+45 20 30 40 50"],
        "emails": ["jens.hansen@example.org"],
    }
    values = [cpr, "Jens Hansen", "+45 20 30 40 50", "jens.hansen@example.org"]
    user = add_user(iam_server, groups=(VISITATOR,), **planted)
    with capture_logs() as events:
        signed_in = await _sign_in(flows, user)
        refusal = await _refused(
            _flows(
                http,
                provider_settings(
                    iam_server, *client, role={"claim": "groups", "values": {"andet": "admin"}}
                ),
            ),
            user,
        )
    assert refusal == RefusalReason.NO_ROLE
    assert signed_in.subject == cpr
    logged = json.dumps(events, default=str)
    assert signed_in.principal.token_id in logged
    assert not [value for value in values if value in logged]
    assert not [value for value in values if value in signed_in.principal.token_id]
