"""/docs: Swagger UI from the vendored swagger-ui-dist, no CDN, every asset served."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from browsing import RequestLog, serve_broker
from databases import Database, create_database
from playwright.sync_api import Page
from vendored import SWAGGER_UI, listed_files, note_fields, present_files

from broker.api import create_app
from broker.config import Settings
from broker.policy import PolicyRegistry

BASE = "http://broker"


class _References(HTMLParser):
    """Every URL an HTML page loads or links: src, href, and URLs written in its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += re.findall(r"""(?:https?:)?//[^\s'"`]+|['"](/[^\s'"]+)['"]""", data)


def references(html: str) -> list[str]:
    """Return the URLs ``html`` references (relative ones as written)."""
    parser = _References()
    parser.feed(html)
    return [url for url in parser.urls if url]


def _client(home: Path) -> httpx.AsyncClient:
    app = create_app(Settings(home=home, scheduler=False), policies=PolicyRegistry(home))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def test_the_reference_scan_finds_external_hosts() -> None:
    """The scan sees a CDN in a tag and in a script (so an empty finding means something)."""
    found = references(
        '<link href="https://cdn.example/ui.css"><script src="/a.js"></script>'
        "<script>load('//cdn.example/x.js'); url: '/openapi.json'</script>"
    )
    assert found == [
        "https://cdn.example/ui.css",
        "/a.js",
        "//cdn.example/x.js",
        "/openapi.json",
    ]


@pytest.mark.anyio
async def test_docs_reference_no_other_host_and_every_asset_answers(tmp_path: Path) -> None:
    """/docs names only this server's URLs; each of them (assets, the OpenAPI document) is 200."""
    async with _client(tmp_path) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        urls = references(docs.text)
        hosts = {urlsplit(urljoin(f"{BASE}/docs", url)).netloc for url in urls}
        answers = {
            url: (await client.get(urljoin(f"{BASE}/docs", url))).status_code for url in urls
        }
    assert hosts == {"broker"}
    assert {urlsplit(url).path for url in urls} >= {
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon-32x32.png",
        "/openapi.json",
    }
    assert set(answers.values()) == {200}, answers


@pytest.mark.anyio
async def test_docs_and_their_assets_forbid_type_sniffing(tmp_path: Path) -> None:
    """/docs and each vendored asset it loads (script, style, icon; 200 and 304) send nosniff."""
    async with _client(tmp_path) as client:
        docs = await client.get("/docs")
        assets = [url for url in references(docs.text) if url.startswith("/docs/assets/")]
        answers = [await client.get(url) for url in assets]
        again = await client.get(assets[0], headers={"If-None-Match": answers[0].headers["etag"]})
    assert len(assets) == 3  # the bundle, the stylesheet, the icon
    assert again.status_code == 304
    for answer in (docs, *answers, again):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url


@pytest.mark.anyio
async def test_docs_say_their_language(tmp_path: Path) -> None:
    """The page names its language (Swagger UI's is English), as WCAG 3.1.1 asks."""
    async with _client(tmp_path) as client:
        docs = await client.get("/docs")
    assert '<html lang="en">' in docs.text


@pytest.mark.anyio
async def test_redoc_is_not_offered(tmp_path: Path) -> None:
    """/redoc would load ReDoc from a CDN: it is not served."""
    async with _client(tmp_path) as client:
        assert (await client.get("/redoc")).status_code == 404


@pytest.mark.anyio
async def test_the_docs_routes_are_not_in_the_openapi_document(tmp_path: Path) -> None:
    """The API's description holds the API: no /docs or asset route."""
    async with _client(tmp_path) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/static"))]


def test_the_vendored_swagger_ui_is_the_one_the_note_lists() -> None:
    """VERSION.md lists each vendored file with its SHA-256, names the version and the licence."""
    assert present_files(SWAGGER_UI) == listed_files(SWAGGER_UI)
    fields = note_fields(SWAGGER_UI)
    assert (fields["package"], fields["licence"].split()[0]) == ("swagger-ui-dist", "Apache-2.0")
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", fields["npm tarball integrity"])
    assert "Apache License" in (SWAGGER_UI / "LICENSE").read_text(encoding="utf-8")


@pytest.fixture
def sqlite_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated SQLite database: /docs reads none, so one backend is enough."""
    yield from create_database("sqlite", tmp_path, request)


@pytest.mark.browser
@pytest.mark.slow
def test_swagger_ui_renders_in_chromium_from_the_local_assets(
    page: Page,
    sqlite_database: Database,
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Chromium shows the API's operations at /docs with no request to any other host."""
    with serve_broker(sqlite_database, tmp_path / "home") as broker:
        requests = RequestLog(page)
        page.goto(f"{broker.url}/docs")
        page.locator(".swagger-ui .info .title").filter(has_text="renovation-broker").wait_for()
        page.locator(".opblock-summary-path", has_text="/v1/policies").first.wait_for()
        screenshot(page, "docs")
    assert requests.hosts() == {broker.origin}
    paths = {urlsplit(url).path for url in requests.urls}
    assert {"/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"} <= paths
