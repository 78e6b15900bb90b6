"""The browser harness itself: Debian's Chromium by path, axe-core that fails, screenshots."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import browsing
import pytest
from browsing import CHROMIUM, check_axe, chromium_or_skip
from playwright.sync_api import Page

PNG = b"\x89PNG\r\n\x1a\n"
CLEAN = (
    '<!doctype html><html lang="da"><head><title>Prøve</title></head>'
    "<body><main><h1>Prøve</h1><p>Ingen fejl her.</p></main></body></html>"
)
FAULTY = (
    "<!doctype html><html><head><title>Prøve</title></head><body><main>"
    '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    '<p style="color:#777;background:#888">svag kontrast</p>'
    '<input type="text"></main></body></html>'
)


@pytest.mark.browser
@pytest.mark.slow
def test_the_browser_is_debians_chromium(
    browser: Any, browser_type_launch_args: dict[str, Any]
) -> None:
    """The browser is /usr/bin/chromium, launched by path: the version it reports is Debian's."""
    assert browser_type_launch_args["executable_path"] == str(CHROMIUM)
    debian = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout  # "Chromium 156.0.8078.114 built on Debian ..."
    assert debian.split()[1] == browser.version


@pytest.mark.browser
@pytest.mark.slow
def test_check_axe_passes_a_clean_page_and_lists_every_violation(page: Page) -> None:
    """A page without faults passes; one with four WCAG faults fails naming each rule."""
    page.set_content(CLEAN)
    check_axe(page)
    page.set_content(FAULTY)
    with pytest.raises(pytest.fail.Exception) as failed:
        check_axe(page)
    message = str(failed.value)
    for rule in ("html-has-lang", "image-alt", "color-contrast", "label"):
        assert f"- {rule} (" in message
    assert "4 WCAG 2.1 A/AA violation(s)" in message


@pytest.mark.browser
@pytest.mark.slow
def test_screenshot_saves_a_png_in_the_tests_folder(
    page: Page, screenshot: Callable[[Page, str], Path], pytestconfig: pytest.Config
) -> None:
    """screenshot(page, name) writes name.png under --screenshots, in a folder for this test."""
    page.set_content(CLEAN)
    path = screenshot(page, "clean-page")
    assert path.read_bytes().startswith(PNG)
    assert path.name == "clean-page.png"
    assert "test_screenshot_saves_a_png" in path.parent.name
    root = Path(pytestconfig.getoption("--screenshots"))
    assert path.is_relative_to(root if root.is_absolute() else pytestconfig.rootpath / root)
    with pytest.raises(ValueError, match="lower case"):
        screenshot(page, "../outside")


def test_a_missing_chromium_skips_or_fails_under_require(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without /usr/bin/chromium the browser tests skip, and fail when REQUIRE_CHROMIUM=1."""
    monkeypatch.setattr(browsing, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        chromium_or_skip()
    monkeypatch.setenv("REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match="no Chromium"):
        chromium_or_skip()


INNER_CONFTEST = """
import pytest
from browsing import (
    base_url, browser, browser_context_args, browser_type, browser_type_launch_args,
    launch_browser, playwright, pytest_addoption, pytest_runtest_teardown, screenshot,
)


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""
# pytest runs the tests on one browser_name (a session-scoped parameter) one after another,
# so the three browser tests come first here, then the other two.
INNER_TESTS = """
import asyncio
import pytest

seen = []


def test_first_page(browser, page):
    page.set_content("<p>1</p>")
    seen.append(browser)


def test_next_page_shares_the_browser(browser, page):
    page.set_content("<p>2</p>")
    assert browser is seen[0] and browser.is_connected()


@pytest.mark.anyio
async def test_async_test_runs_its_own_loop():
    await asyncio.sleep(0)
    assert len(seen) == 2 and not any(browser.is_connected() for browser in seen)


def test_no_loop_is_left_running():
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_a_third_page(browser, page):
    page.set_content("<p>3</p>")
    seen.append(browser)
"""


@pytest.mark.browser
@pytest.mark.slow
def test_chromium_is_shared_by_browser_tests_and_closed_before_others(tmp_path: Path) -> None:
    """Consecutive browser tests share one Chromium; an async test after them runs its loop."""
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST, encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS, encoding="utf-8")
    tests = Path(browsing.__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
    env.pop("PYTEST_XDIST_WORKER", None)
    inner = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "-q",
            "-W",
            "error",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert inner.returncode == 0, inner.stdout[-4000:]
    assert "5 passed" in inner.stdout
