"""A schedule upload as the API receives it: a JSON document or one file in a multipart form.

The body is read into memory, never spooled to a temporary file: an export holds
columns of personal data that are dropped while it is read, and a copy on disk
would outlive that. The app's body limit counts the bytes as they stream, so a
body sent without a Content-Length is held to it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import File

from broker.api._problems import ApiProblem
from broker.errors import InputError, Problem

__all__ = ["Upload", "UploadBody"]

_JSON = "application/json"
_MULTIPART = "multipart/form-data"
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
