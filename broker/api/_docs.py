"""``/docs``: Swagger UI from the vendored ``static/swagger-ui`` (no CDN; works offline).

The assets are npm's ``swagger-ui-dist`` (see ``static/swagger-ui/VERSION.md``, updated by
``scripts/update-swagger-ui.sh``). ReDoc is not offered: it would need a CDN too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from broker.web import StaticAssets, static_url

__all__ = ["DOCS_ASSETS", "SWAGGER_UI_DIR", "install_docs"]

SWAGGER_UI_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"
DOCS_ASSETS = "/docs/assets"
"""Where :data:`SWAGGER_UI_DIR` is served."""


def _asset(name: str) -> str:
    return static_url(name, prefix=DOCS_ASSETS, directory=SWAGGER_UI_DIR)


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI for ``app``'s OpenAPI document at ``/docs``, its assets beside it.

    ``app`` is built with ``docs_url=None`` and ``redoc_url=None`` (FastAPI's own pages
    load their scripts from a CDN).
    """
    app.mount(DOCS_ASSETS, StaticAssets(directory=SWAGGER_UI_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset("swagger-ui-bundle.js"),
            swagger_css_url=_asset("swagger-ui.css"),
            swagger_favicon_url=_asset("favicon-32x32.png"),
            oauth2_redirect_url=None,  # bearer tokens only: no OAuth2 flow to return from
            # No call to swagger.io's online validator from a closed network.
            swagger_ui_parameters={"validatorUrl": "none"},
        )
        # Swagger UI is in English; FastAPI's page does not say so (WCAG 3.1.1).
        html = bytes(page.body).decode("utf-8").replace("<html>", '<html lang="en">', 1)
        return HTMLResponse(html, headers={"X-Content-Type-Options": "nosniff"})
