"""The vendored static files (DKFDS, see ``static/dkfds/VERSION.md``), served at ``/static``.

A URL made by :func:`static_url` carries the file's content hash (``?v=``): the browser may
keep that response for a year without asking again, since a changed file gets a new URL.
A plain ``/static/...`` URL (the relative ``url(...)`` in DKFDS' CSS, say) is kept a day,
then revalidated by its ETag. Every file is sent with ``X-Content-Type-Options: nosniff``:
the browser uses it only as the type it is served as (a stylesheet as CSS, a script as
JavaScript), never as what its bytes might be guessed to be.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "StaticAssets", "install_static", "static_url"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The directory served at :data:`STATIC_PREFIX` (installed with the package)."""
STATIC_PREFIX = "/static"

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATED = "public, max-age=86400"


@functools.lru_cache(maxsize=1024)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """Return the first 16 hex digits of the SHA-256 of the file at ``path`` (as of its stat)."""
    del mtime_ns, size  # the cache key: a changed file is hashed again
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()[:16]


def _version(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


class StaticAssets(StaticFiles):
    """:class:`StaticFiles` with cache headers and ``X-Content-Type-Options: nosniff``.

    A year for a URL naming the content's hash, a day otherwise. Also serves the API docs'
    vendored Swagger UI (``broker.api._docs``).
    """

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """Return the file (or 304), ``Cache-Control`` by whether ``?v=`` is its hash, nosniff."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = QueryParams(scope.get("query_string", b"")).get("v")
        current = _digest(os.fspath(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        response.headers["Cache-Control"] = _IMMUTABLE if asked == current else _REVALIDATED
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_url(path: str, *, prefix: str = STATIC_PREFIX, directory: Path = STATIC_DIR) -> str:
    """Return the URL of ``path`` under ``directory`` with its content hash, kept a year.

    Raises:
        FileNotFoundError: no such file under ``directory`` (a template names a missing asset).
    """
    file = (directory / path).resolve()
    if not file.is_relative_to(directory.resolve()) or not file.is_file():
        raise FileNotFoundError(f"no static file {path!r}")
    return f"{prefix}/{path}?v={_version(file)}"


def install_static(app: Starlette) -> None:
    """Mount :data:`STATIC_DIR` at :data:`STATIC_PREFIX` on ``app`` (FastAPI is a Starlette)."""
    app.mount(STATIC_PREFIX, StaticAssets(directory=STATIC_DIR), name="static")
