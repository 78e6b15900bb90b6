"""The web edge: pages in Danish (English second), signed in with a local account.

``install_web(app, settings)`` puts the pages at ``/`` beside the API at ``/v1``.
Page modules build on :mod:`broker.web._shell`: ``page_router()``, ``SignedIn``,
``SignedInAs``, ``render``. Other ways to sign in plug in with
:func:`add_sign_in_option` and :func:`begin_session`.
"""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI

from broker.config import Settings
from broker.web._access import router as access_router
from broker.web._admin import router as admin_router
from broker.web._admin_accounts import router as admin_accounts_router
from broker.web._agreements import router as agreements_router
from broker.web._alert_mail import AlertMail
from broker.web._contact import router as contact_router
from broker.web._errors import install_error_pages, too_large_page
from broker.web._i18n import LANGUAGES, N_, gettext_for
from broker.web._integrity import router as integrity_router
from broker.web._lists import router as lists_router
from broker.web._log import router as log_router
from broker.web._notify import register_hooks as register_notifications
from broker.web._oidc import install_oidc
from broker.web._records import (
    RecordView,
    record_text,
    record_view,
    render_record_pdf,
    render_record_xlsx,
)
from broker.web._records import router as records_router
from broker.web._rehousing import router as rehousing_router
from broker.web._shell import (
    PageDb,
    PageReadDb,
    SignedIn,
    SignedInAs,
    WebSessions,
    language,
    page_router,
    render,
)
from broker.web._signin import SignInOption, add_sign_in_option, begin_session
from broker.web._signin import router as sign_in_router
from broker.web._start import router as start_router
from broker.web._static import StaticAssets, install_static, static_url

__all__ = [
    "LANGUAGES",
    "N_",
    "AlertMail",
    "PageDb",
    "PageReadDb",
    "RecordView",
    "SignInOption",
    "SignedIn",
    "SignedInAs",
    "StaticAssets",
    "add_sign_in_option",
    "begin_session",
    "gettext_for",
    "install_static",
    "install_web",
    "language",
    "page_router",
    "record_text",
    "record_view",
    "register_notifications",
    "render",
    "render_record_pdf",
    "render_record_xlsx",
    "static_url",
    "too_large_page",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Serve the pages on ``app``: sign-in, the start page, error pages outside ``/v1``.

    Call after the API's routes and problem handlers, before its middleware.
    """
    app.state.web_clock = _now
    app.state.sign_in_options = []
    for router in (
        sign_in_router,
        start_router,
        lists_router,
        contact_router,
        records_router,
        access_router,
        admin_router,
        admin_accounts_router,
        agreements_router,
        integrity_router,
        log_router,
        rehousing_router,
    ):
        app.include_router(router)
    install_oidc(app, settings)
    install_error_pages(app)
    app.add_middleware(WebSessions)
