"""The browser tests' harness: Debian's Chromium, a real `broker serve`, axe-core, screenshots.

``tests/conftest.py`` imports its option, hook and fixtures (so they take precedence over
pytest-playwright's, which are a plugin's). pytest-playwright's ``context`` and ``page``
fixtures run on the ``browser`` here: ``/usr/bin/chromium`` (Debian's ``chromium``
package, installed by ``scripts/system-packages.sh test``) launched by path, never a
browser build Playwright downloads. Without it the browser tests skip with the reason, or
fail when ``REQUIRE_CHROMIUM=1`` (as in ``.ci/run``).

One Chromium per pytest-xdist worker, shared by the browser tests that run one after
another there, and closed before any other test: Playwright's sync API leaves its event
loop marked running in the thread between calls, so an async test (anyio) could not
start its own loop while Playwright is up. (pytest-playwright keeps it for the session.)

Mark a browser test ``@pytest.mark.browser`` and ``@pytest.mark.slow``. In it:

- ``serve_broker(database, home)``: the real ``broker serve`` on this worker's port block;
- ``check_axe(page)``: axe-core's WCAG 2.1 A and AA rules, failing with every violation;
- ``screenshot(page, name)`` (a fixture): a PNG under ``--screenshots`` (default
  ``test-output/screenshots/``, ignored by git), one folder per test;
- ``RequestLog(page)``: every URL the page requested, to show none went to another host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from databases import Database
from peers import free_port
from playwright.sync_api import Browser, BrowserType, Page, Playwright, Request, sync_playwright

from broker.config import Settings
from broker.keys import init_keys

CHROMIUM = Path("/usr/bin/chromium")
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
"""axe-core's tags for the rules of WCAG 2.0 and 2.1, levels A and AA."""
POLICIES = Path(__file__).resolve().parent.parent / "policies"
SCREENSHOTS = "test-output/screenshots"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--screenshots DIR``: where the browser tests save their screenshots."""
    parser.addoption(
        "--screenshots",
        default=SCREENSHOTS,
        help=f"directory for the browser tests' screenshots (default: {SCREENSHOTS})",
    )


def chromium_or_skip() -> Path:
    """Return Debian's Chromium; skip without it, or fail when REQUIRE_CHROMIUM=1."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM}: `bash scripts/system-packages.sh test` installs it"
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(pytestconfig: pytest.Config, browser_name: str) -> dict[str, Any]:
    """Launch ``/usr/bin/chromium`` by path (pytest-playwright's fixture, overridden)."""
    if browser_name != "chromium":
        raise pytest.UsageError(f"the browser tests drive Debian's Chromium, not {browser_name}")
    if pytestconfig.getoption("--browser-channel"):
        raise pytest.UsageError("--browser-channel would launch another browser than Chromium's")
    return {
        "executable_path": str(chromium_or_skip()),
        "headless": not pytestconfig.getoption("--headed"),
    }


class _Chromium:
    """The worker's Playwright and Chromium: started by a browser test, stopped before others."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def playwright(self) -> Playwright:
        if self._playwright is None:
            self._playwright = sync_playwright().start()
        return self._playwright

    def browser(self, launch: Callable[[], Browser]) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self._browser = launch()
        return self._browser

    def stop(self) -> None:
        browser, running = self._browser, self._playwright
        self._browser = self._playwright = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            if running is not None:
                running.stop()


_CHROMIUM = _Chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """After a browser test, stop Chromium unless the next test on this worker needs it."""
    del item
    try:
        return (yield)
    finally:
        if nextitem is None or "playwright" not in getattr(nextitem, "fixturenames", ()):
            _CHROMIUM.stop()


@pytest.fixture
def playwright() -> Playwright:
    """The worker's Playwright, started for this test if it is not up."""
    return _CHROMIUM.playwright()


@pytest.fixture
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    """Chromium's browser type (pytest-playwright's fixture, per test here)."""
    return getattr(playwright, browser_name)  # type: ignore[no-any-return]


@pytest.fixture
def launch_browser(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any]
) -> Callable[..., Browser]:
    """Return ``launch(**options)``: another Chromium for the test (closed by the caller)."""
    return lambda **options: browser_type.launch(**{**browser_type_launch_args, **options})


@pytest.fixture
def browser(launch_browser: Callable[..., Browser]) -> Browser:
    """The worker's Chromium, shared with the browser tests that run right before and after."""
    return _CHROMIUM.browser(launch_browser)


@pytest.fixture
def browser_context_args(
    pytestconfig: pytest.Config,
    playwright: Playwright,
    device: str | None,
    base_url: str | None,
    _pw_artifacts_folder: Any,
) -> dict[str, Any]:
    """pytest-playwright's context options (device, base URL, video), in Danish, in Denmark."""
    args: dict[str, Any] = {"locale": "da-DK", "timezone_id": "Europe/Copenhagen"}
    if device:
        args.update(playwright.devices[device])
    if base_url:
        args["base_url"] = base_url
    if pytestconfig.getoption("--video") in {"on", "retain-on-failure"}:
        args["record_video_dir"] = _pw_artifacts_folder.name
    return args


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    """``--base-url``, as pytest-playwright's own fallback fixture gives it.

    Defined here because that fallback is a method of a class, which pytest deprecates
    (a warning, so an error in this suite) when it runs.
    """
    value = pytestconfig.getoption("--base-url")
    return str(value) if value else None


@pytest.fixture
def screenshot(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> Callable[[Page, str], Path]:
    """Return ``save(page, name)``: a full-page PNG ``name``.png in this test's folder."""
    root = Path(pytestconfig.getoption("--screenshots"))
    if not root.is_absolute():
        root = pytestconfig.rootpath / root
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.nodeid).strip("-")
    shutil.rmtree(folder, ignore_errors=True)  # this test's previous run

    def save(page: Page, name: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"a screenshot's name is lower case, digits and '-': {name!r}")
        path = folder / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path, full_page=True)
        return path

    return save


def check_axe(page: Page, *, context: str | None = None) -> None:
    """Run axe-core's WCAG 2.1 A/AA rules on ``page`` (or the ``context`` selector).

    Raises:
        pytest.fail.Exception: listing every violation: rule, impact, help, and each element.
    """
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_21_AA)},
        "resultTypes": ["violations"],
    }
    response = Axe().run(page, context=context, options=options).response
    violations = response["violations"]
    if not violations:
        return
    lines = [f"axe-core: {len(violations)} WCAG 2.1 A/AA violation(s) on {page.url}"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        lines += [
            f"  at {' '.join(node['target'])}: {node['html'][:200]}" for node in violation["nodes"]
        ]
    pytest.fail("\n".join(lines), pytrace=False)


class RequestLog:
    """Every URL ``page`` requests from now on (documents, assets, fetches)."""

    def __init__(self, page: Page) -> None:
        """Start recording ``page``'s requests."""
        self.urls: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        self.urls.append(request.url)

    def hosts(self) -> set[str]:
        """Return the hosts (``host:port``) requested; ``data:`` and ``blob:`` URLs have none."""
        return {
            urlsplit(url).netloc
            for url in self.urls
            if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
        }


@dataclass(frozen=True)
class ServedBroker:
    """A running `broker serve`: its base URL, home directory and the environment it got."""

    url: str
    home: Path
    env: Mapping[str, str]
    log: Path

    @property
    def origin(self) -> str:
        """``127.0.0.1:port``: the only host its pages may load from."""
        return urlsplit(self.url).netloc


@contextmanager
def serve_broker(  # noqa: PLR0913 - the server's settings, all but two named
    database: Database,
    home: Path,
    *,
    policies: Path = POLICIES,
    settings: Mapping[str, str] | None = None,
    port: int | None = None,
    deadline: float = 60.0,
) -> Iterator[ServedBroker]:
    """Run the real `broker serve` on ``database`` (migrated) with its log keys under ``home``.

    ``settings`` are more ``BROKER_*`` variables (the scheduler is off unless they turn it
    on); ``port`` one chosen beforehand (``peers.free_port``), when a setting must name
    it. The server's log goes to ``home/serve.log``, quoted when it fails to start.
    """
    init_keys(Settings(home=home))
    port = port or free_port()
    env = {
        **os.environ,
        "BROKER_HOME": str(home),
        "BROKER_DATABASE_URL": database.url,
        "BROKER_POLICIES_DIR": str(policies),
        "BROKER_LOG_FORMAT": "json",
        "BROKER_SCHEDULER": "false",
        **(settings or {}),
    }
    log = home / "serve.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = ServedBroker(f"http://127.0.0.1:{port}", home, env, log)
    try:
        _wait_until_up(served, process, deadline)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _wait_until_up(served: ServedBroker, process: subprocess.Popen[bytes], deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    tail = served.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    pytest.fail(f"broker serve did not come up (exit {process.poll()}):\n{tail}")
