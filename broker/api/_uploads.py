"""A schedule upload as the API receives it: a JSON document or one file in a multipart form.

The body is read into memory, never spooled to a temporary file: an export holds
columns of personal data that are dropped while it is read, and a copy on disk
would outlive that. The app's body limit counts the bytes as they stream, so a
body sent without a Content-Length is held to it too.

The upload is then checked and stored on a worker thread by
:func:`run_cancellable`, which stops it when the client goes away or the server
is shutting down (:func:`stop_uploads`, called by ``broker serve`` on SIGTERM):
a large or hostile file must not keep a thread, a database transaction and the
process busy for minutes after nobody is waiting for the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import File

from broker.api._problems import ApiProblem
from broker.errors import Cancelled, InputError, Problem

__all__ = ["Upload", "UploadBody", "run_cancellable", "stop_uploads"]

T = TypeVar("T")

_JSON = "application/json"
_MULTIPART = "multipart/form-data"
# How often a running upload looks whether the server is stopping.
_WATCH_EVERY = 0.2
# A part without a usable file name is known by its media type.
_SUFFIXES = {
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    _JSON: ".json",
}


@dataclass(frozen=True, slots=True)
class UploadBody:
    """The uploaded export's bytes and a name whose extension gives its format."""

    data: bytes
    name: str


def _unreadable() -> InputError:
    rule = "a multipart/form-data body with one CSV, XLSX or JSON file in the field `file`"
    return InputError("no file", (Problem(rule, column="file"),))


def _form_file(body: bytes, content_type: str) -> UploadBody:
    files: list[File] = []
    try:
        parser = create_form_parser(
            {"Content-Type": content_type.encode("latin-1")},
            None,
            files.append,
            config={"MAX_MEMORY_FILE_SIZE": len(body) + 1},
        )
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError, UnicodeEncodeError) as exc:
        raise _unreadable() from exc
    chosen = [f for f in files if f.field_name == b"file"]
    if len(chosen) != 1:
        raise _unreadable()
    part = chosen[0]
    # Only the extension is kept: a file name can carry a person's name.
    file_name = (part.file_name or b"").decode("utf-8", errors="replace")
    suffix = PurePath(file_name).suffix.lower() or _SUFFIXES.get(part.content_type or "", "")
    stream = part.file_object
    stream.seek(0)
    data = stream.read()
    part.close()
    return UploadBody(data, "upload" + suffix)


async def _upload(request: Request) -> UploadBody:
    """Read the request as a JSON schedule document or a multipart form with a ``file``."""
    media = request.headers.get("content-type", "")
    kind = media.split(";", 1)[0].strip().lower()
    if kind not in {_JSON, _MULTIPART}:
        detail = "send application/json, or multipart/form-data with a file field"
        raise ApiProblem(415, "unsupported media type", detail)
    body = await request.body()  # within the limit: BodyLimit answers 413 past it
    if kind == _JSON:
        return UploadBody(body, "upload.json")
    return await run_in_threadpool(_form_file, body, media)


Upload = Annotated[UploadBody, Depends(_upload)]
"""A route parameter: the uploaded export, read into memory within the body limit."""


def _stopping(app: FastAPI) -> threading.Event:
    # Created on first use, on the event loop's thread, like every call of it.
    stopping = getattr(app.state, "uploads_stopping", None)
    if not isinstance(stopping, threading.Event):
        stopping = app.state.uploads_stopping = threading.Event()
    return stopping


def stop_uploads(app: FastAPI) -> None:
    """Tell every running and later upload of ``app`` to stop: the server is shutting down."""
    _stopping(app).set()


async def run_cancellable(request: Request, work: Callable[[threading.Event], T]) -> T:
    """Run ``work(cancel)`` on a worker thread; set ``cancel`` if the request ends first.

    The request ends when its client disconnects or :func:`stop_uploads` is called;
    ``work`` is expected to check ``cancel`` often and raise :class:`Cancelled`.

    Raises:
        ApiProblem: 503 when the work was cancelled (nothing was changed).
    """
    cancel = threading.Event()
    stopping = _stopping(request.app)

    async def watch_client() -> None:
        # The body has been read: what the server sends next is the disconnect. (Polling
        # request.is_disconnected() never sees it through Starlette's BaseHTTPMiddleware.)
        while (await request.receive())["type"] != "http.disconnect":
            pass
        cancel.set()

    async def watch_server() -> None:
        # Set in a signal handler, where only a flag is safe: polled, as uvicorn polls its own.
        while not stopping.is_set():  # noqa: ASYNC110
            await anyio.sleep(_WATCH_EVERY)
        cancel.set()

    results: list[T] = []
    failures: list[Exception] = []
    async with anyio.create_task_group() as group:
        group.start_soon(watch_client)
        group.start_soon(watch_server)
        try:
            results.append(await anyio.to_thread.run_sync(work, cancel))
        except Exception as exc:  # noqa: BLE001 - re-raised below, outside the task group
            failures.append(exc)
        finally:
            cancel.set()
            group.cancel_scope.cancel()
    if failures:
        if isinstance(failures[0], Cancelled):
            detail = "the client left or the server is stopping; nothing was changed"
            raise ApiProblem(503, "upload stopped", detail, {"Retry-After": "60"}) from failures[0]
        raise failures[0]
    return results[0]
