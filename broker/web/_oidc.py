"""Sign-in through an organisation's identity provider (OpenID Connect), on the pages.

With ``BROKER_OIDC_FILE`` set, ``/log-ind`` offers a button per provider
("Log ind med <organisation>"), and:

- ``GET /log-ind/oidc/{provider}`` starts a sign-in: the flow's state is stored
  server-side (``broker.oidc.keep_flow``), bound to a short-lived cookie
  (HttpOnly, SameSite=Lax, Secure behind https), and the browser is sent to the
  provider;
- ``GET /log-ind/oidc/{provider}/callback`` takes the flow back (once), completes
  the sign-in, finds the broker's user for it and opens the same session a local
  sign-in opens, then goes on to the page the user came for.

A refusal is a Danish page per reason, with the reason's code for the administrator;
the application log records the provider and the reason only (``broker.oidc``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from broker.config import Settings
from broker.oidc import (
    FLOW_LIFETIME,
    RefusalReason,
    SignInFlows,
    SignInRefused,
    keep_flow,
    load_oidc_config,
    provision_user,
    take_flow,
)
from broker.web._i18n import N_, gettext_for
from broker.web._shell import PageDb, language, local_path, page_router, render, set_cookie, web_now
from broker.web._signin import SignInOption, add_sign_in_option, begin_session
from schemas import scrub_personal

__all__ = ["FLOW_COOKIE", "REFUSALS", "install_oidc"]

router = page_router()

FLOW_COOKIE = "broker_oidc"
SIGN_IN_WITH = N_("Sign in with %(organisation)s")
_UNVERIFIED = N_("The answer could not be verified")
_NOT_COMPLETED = N_("The sign-in could not be completed")
REFUSALS: Mapping[RefusalReason, tuple[int, str, str]] = {
    RefusalReason.UNKNOWN_ORG: (
        404,
        N_("Your organisation cannot sign you in here"),
        N_(
            "Your organisation is not set up for signing in to the broker's pages, or it"
            " cannot vouch for the organisation it named. Contact your administrator."
        ),
    ),
    RefusalReason.PROVIDER_ERROR: (
        502,
        N_("Signing in with your organisation did not succeed"),
        N_(
            "Your organisation's sign-in service did not answer as expected, or the sign-in"
            " was cancelled there. Try again in a moment; if it goes on, contact your"
            " administrator."
        ),
    ),
    RefusalReason.STATE_MISMATCH: (
        400,
        _NOT_COMPLETED,
        N_(
            "The answer from your organisation did not belong to a sign-in started in this"
            " browser. Start again from the sign-in page."
        ),
    ),
    RefusalReason.FLOW_EXPIRED: (
        400,
        N_("The sign-in took too long"),
        N_(
            "More than 10 minutes passed before your organisation answered. Start again"
            " from the sign-in page."
        ),
    ),
    RefusalReason.WRONG_ISSUER: (
        403,
        N_("The answer came from another sign-in service"),
        N_(
            "The answer did not come from the sign-in service your organisation is set up"
            " with, so it was refused. Contact your administrator."
        ),
    ),
    RefusalReason.BAD_SIGNATURE: (
        403,
        _UNVERIFIED,
        N_(
            "The proof of who you are from your organisation's sign-in service was not"
            " correctly signed, so it was refused. Contact your administrator."
        ),
    ),
    RefusalReason.WRONG_AUDIENCE: (
        403,
        N_("The sign-in was meant for another service"),
        N_(
            "Your organisation's sign-in service issued the proof of who you are to another"
            " service than the broker's pages. Contact your administrator: the broker's"
            " client id must match the set-up of your sign-in service."
        ),
    ),
    RefusalReason.EXPIRED: (
        403,
        N_("The proof of your sign-in has expired"),
        N_(
            "The proof of who you are from your organisation had expired when it reached"
            " the broker. A clock on one of the machines may be wrong. Try again; if it"
            " happens again, contact your administrator."
        ),
    ),
    RefusalReason.NONCE_MISMATCH: (
        403,
        _NOT_COMPLETED,
        N_(
            "The proof of who you are belonged to another sign-in. Start again from the"
            " sign-in page."
        ),
    ),
    RefusalReason.BAD_TOKEN: (
        403,
        _UNVERIFIED,
        N_(
            "The proof of who you are from your organisation's sign-in service lacked"
            " information the broker needs. Contact your administrator."
        ),
    ),
    RefusalReason.NO_ROLE: (
        403,
        N_("You have no role in the broker's pages"),
        N_(
            "Your organisation has not given you a role in the broker's pages."
            " Contact your administrator."
        ),
    ),
    RefusalReason.AMBIGUOUS_ROLE: (
        403,
        N_("You have more than one role"),
        N_(
            "Your organisation has given you more than one role in the broker's pages, and"
            " you can have only one. Contact your administrator."
        ),
    ),
    RefusalReason.INCOMPLETE_SCOPE: (
        403,
        N_("Your role lacks information"),
        N_(
            "As a coordinator you need at least one department and a work e-mail address"
            " from your organisation. Contact your administrator."
        ),
    ),
    RefusalReason.DISABLED: (
        403,
        N_("Your access is closed"),
        N_("An administrator has closed your access to the broker's pages."),
    ),
}
"""The status, heading and text (msgids) of the page for each reason a sign-in is refused."""


def _flows(request: Request) -> SignInFlows:
    flows: SignInFlows = request.app.state.oidc
    return flows


def _next(raw: str | None) -> str:
    # Only a local path; and not one that carries what looks like personal data.
    path = local_path(raw)
    return path if scrub_personal(path) == path else "/"


def _options(request: Request) -> list[SignInOption]:
    gettext = gettext_for(language(request))
    next_path = _next(request.query_params.get("next"))
    query = "" if next_path == "/" else "?" + urlencode({"next": next_path})
    return [
        SignInOption(
            gettext(SIGN_IN_WITH) % {"organisation": provider.name},
            f"/log-ind/oidc/{key}{query}",
        )
        for key, provider in _flows(request).providers.items()
    ]


def _refusal_page(request: Request, refused: SignInRefused) -> Response:
    status, title, text = REFUSALS[refused.reason]
    gettext = gettext_for(language(request))
    context = {"title": gettext(title), "text": gettext(text), "reason": refused.reason.value}
    return render(request, "signin/oidc_afvist.html", context, status=status)


def _callback_url(request: Request, provider: str) -> str:
    settings: Settings = request.app.state.settings
    return f"{str(settings.public_url).rstrip('/')}/log-ind/oidc/{provider}/callback"


@router.get("/log-ind/oidc/{provider}")
async def begin_sign_in(
    request: Request,
    provider: str,
    db: PageDb,
    next: str = "/",  # noqa: A002 - the query's name
) -> Response:
    """Send the browser to the provider, the flow kept server-side under a short-lived cookie."""
    now = web_now(request)
    try:
        url, flow = await _flows(request).begin(provider, _callback_url(request, provider), now=now)
    except SignInRefused as refused:
        return _refusal_page(request, refused)
    secret = await run_in_threadpool(keep_flow, db, flow, _next(next), now=now)
    response = RedirectResponse(url, status_code=303)
    seconds = int(FLOW_LIFETIME.total_seconds())
    set_cookie(request, response, FLOW_COOKIE, secret, max_age=seconds)
    return response


@router.get("/log-ind/oidc/{provider}/callback")
async def complete_sign_in(request: Request, provider: str, db: PageDb) -> Response:
    """Complete the sign-in the provider answered, open the session, go on to the next page."""
    now = web_now(request)
    flows = _flows(request)
    secret = request.cookies.get(FLOW_COOKIE, "")
    try:
        flows.provider(provider)  # an unknown one is refused before its name is logged
        flow, next_path = await run_in_threadpool(take_flow, db, provider, secret, now=now)
        signed_in = await flows.complete(provider, flow, dict(request.query_params), now=now)
        user = await run_in_threadpool(provision_user, db, signed_in, now=now)
    except SignInRefused as refused:
        # The page is an answer, not an error: the request commits, so a taken flow stays
        # taken and its answer cannot be tried again.
        response = _refusal_page(request, refused)
    else:
        response = await run_in_threadpool(
            lambda: begin_session(request, db, user, method="oidc", next_path=next_path)
        )
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


def install_oidc(app: FastAPI, settings: Settings) -> None:
    """Offer sign-in through the providers of ``settings.oidc_file``; none: nothing is added.

    Raises:
        ConfigError: the providers' file is wrong (the broker does not start on it).
    """
    if settings.oidc_file is None:
        return
    config = load_oidc_config(settings.oidc_file)
    # Sign-ins are few: no connection is kept open between them (and none is left behind).
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_keepalive_connections=0)
    )
    app.state.oidc = SignInFlows(config, http)
    add_sign_in_option(app, _options)
    app.include_router(router)
