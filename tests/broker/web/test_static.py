"""The vendored DKFDS: complete, as npm shipped it, and served from /static with cache headers."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from vendored import DKFDS, listed_files, note_fields, present_files

from broker.api import create_app
from broker.config import Settings
from broker.policy import PolicyRegistry
from broker.web import static_url

CSS = DKFDS / "css" / "dkfds-virkdk.min.css"
ENTRY_POINTS = ("css/dkfds-virkdk.min.css", "js/dkfds.min.js")
FONT = "fonts/IBMPlexSans/complete/woff2/IBMPlexSans-Regular.woff2"
URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)""")
YEAR = "public, max-age=31536000, immutable"
DAY = "public, max-age=86400"


def _referenced(css: Path, root: Path = DKFDS) -> set[str]:
    """Every relative ``url(...)`` in ``css``, as a path under ``root`` (query, fragment cut)."""
    found = set()
    for _, ref in URL.findall(css.read_text(encoding="utf-8")):
        if ref.startswith("data:"):
            continue
        assert not urlsplit(ref).scheme, f"the CSS loads {ref} from another host"
        path = urlsplit(ref).path
        found.add((css.parent / path).resolve().relative_to(root.resolve()).as_posix())
    return found


def test_every_url_in_the_css_is_a_vendored_file() -> None:
    """Each font, icon and logo the theme's CSS references is there (and the scan finds them)."""
    referenced = _referenced(CSS)
    assert {"img/logo_virk.svg", "fonts/IBMPlexSans/complete/woff2/IBMPlexSans-Bold.woff2"} <= (
        referenced
    )
    missing = sorted(path for path in referenced if not (DKFDS / path).is_file())
    assert not missing


def test_the_url_scan_sees_quotes_queries_and_data(tmp_path: Path) -> None:
    """A quoted URL with a query and fragment is resolved, a data: URL skipped, none missed."""
    (tmp_path / "css").mkdir()
    sample = tmp_path / "css" / "probe.css"
    sample.write_text(
        'a{background:url("../img/logo.svg?v=1#x")}b{background:url(data:image/png;base64,AA)}'
        "c{src:url( '../fonts/a.woff2' )}d{src:url(../fonts/b.woff)}",
        encoding="utf-8",
    )
    assert _referenced(sample, tmp_path) == {"img/logo.svg", "fonts/a.woff2", "fonts/b.woff"}


def test_the_vendored_files_are_the_ones_the_note_lists() -> None:
    """VERSION.md lists every vendored file with its SHA-256: none edited, added or missing."""
    listed = listed_files(DKFDS)
    assert set(ENTRY_POINTS) <= set(listed)
    assert present_files(DKFDS) == listed


def test_the_note_names_the_package_version_integrity_and_licence() -> None:
    """The note says what was vendored, from where, under which licence; the licence is there."""
    fields = note_fields(DKFDS)
    assert fields["package"] == "dkfds"
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields["version"])
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", fields["npm tarball integrity"])
    assert fields["licence"].startswith("MIT")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fields["date"])
    licence = (DKFDS / "LICENSE.md").read_text(encoding="utf-8")
    assert "MIT license" in licence
    assert "SIL Open Font License" in licence


def _static_client(home: Path) -> httpx.AsyncClient:
    """A client of the broker's app (create_app calls install_static); no database is touched."""
    app = create_app(Settings(home=home, scheduler=False), policies=PolicyRegistry(home))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker")


@pytest.mark.anyio
async def test_the_entry_points_are_served_with_their_types(tmp_path: Path) -> None:
    """The two files the pages link are served at /static/dkfds/..., as CSS and JavaScript."""
    async with _static_client(tmp_path) as client:
        css = await client.get("/static/dkfds/css/dkfds-virkdk.min.css")
        js = await client.get("/static/dkfds/js/dkfds.min.js")
        font = await client.get(
            "/static/dkfds/fonts/IBMPlexSans/complete/woff2/IBMPlexSans-Regular.woff2"
        )
    assert (css.status_code, css.headers["content-type"]) == (200, "text/css; charset=utf-8")
    assert css.content == CSS.read_bytes()
    assert js.status_code == 200
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert font.status_code == 200


@pytest.mark.anyio
async def test_a_url_with_the_content_hash_is_kept_a_year_others_a_day(tmp_path: Path) -> None:
    """static_url's ?v= (the file's hash) is immutable; no or a stale ?v= is revalidated daily."""
    versioned = static_url("dkfds/css/dkfds-virkdk.min.css")
    path, _, query = versioned.partition("?")
    assert path == "/static/dkfds/css/dkfds-virkdk.min.css"
    assert re.fullmatch(r"v=[0-9a-f]{16}", query)
    async with _static_client(tmp_path) as client:
        fresh = await client.get(versioned)
        plain = await client.get(path)
        stale = await client.get(f"{path}?v=0000000000000000")
        again = await client.get(versioned, headers={"If-None-Match": fresh.headers["etag"]})
    assert fresh.headers["cache-control"] == YEAR
    assert plain.headers["cache-control"] == DAY
    assert stale.headers["cache-control"] == DAY
    assert (again.status_code, again.headers["cache-control"]) == (304, YEAR)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "css/dkfds-virkdk.min.css",
        "js/dkfds.min.js",
        FONT,
        "img/all-svg-icons.svg",
        "img/logo_virk.svg",
    ],
)
async def test_static_files_forbid_type_sniffing(tmp_path: Path, path: str) -> None:
    """Each static file, by a hashed or a plain URL and as a 304, is sent with nosniff."""
    versioned = static_url(f"dkfds/{path}")
    async with _static_client(tmp_path) as client:
        fresh = await client.get(versioned)
        plain = await client.get(versioned.partition("?")[0])
        again = await client.get(versioned, headers={"If-None-Match": fresh.headers["etag"]})
    assert [fresh.status_code, plain.status_code, again.status_code] == [200, 200, 304]
    for answer in (fresh, plain, again):
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_changed_file_gets_a_new_url(tmp_path: Path) -> None:
    """The hash in the URL follows the content: an update is fetched, not read from a cache."""
    (tmp_path / "a.css").write_text("a{}", encoding="utf-8")
    before = static_url("a.css", directory=tmp_path)
    (tmp_path / "a.css").write_text("a{color:red}", encoding="utf-8")
    assert static_url("a.css", directory=tmp_path) != before


@pytest.mark.parametrize("path", ["dkfds/none.css", "../_static.py", "dkfds"])
def test_static_url_refuses_what_is_not_a_static_file(path: str) -> None:
    """A missing file, one outside the static tree or a directory is refused, not linked."""
    with pytest.raises(FileNotFoundError):
        static_url(path)


@pytest.mark.anyio
async def test_nothing_outside_the_static_tree_is_served(tmp_path: Path) -> None:
    """A path climbing out of /static (plain or encoded) and a missing file answer 404."""
    async with _static_client(tmp_path) as client:
        answers = [
            await client.get(path)
            for path in ("/static/../_static.py", "/static/%2e%2e/_static.py", "/static/none.css")
        ]
    assert [answer.status_code for answer in answers] == [404, 404, 404]


@pytest.mark.anyio
async def test_static_files_need_no_token(tmp_path: Path) -> None:
    """/static is outside /v1: the stylesheet answers without a bearer token (it holds no data)."""
    async with _static_client(tmp_path) as client:
        css = await client.get(static_url("dkfds/css/dkfds-virkdk.min.css"))
    assert (css.status_code, css.headers["cache-control"]) == (200, YEAR)
