"""The client side of C2SP tlog-witness: submit a checkpoint, read the witness's answer."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from audit._note import _DASH

__all__ = ["WitnessError", "WitnessReply", "submit_checkpoint"]

_MAX_PROOF_LINES = 63
_MAX_RESPONSE_BODY = 64 * 1024
_SIZE_TYPE = "text/x.tlog.size"
_TEXT_TYPE = "text/plain; charset=utf-8"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class WitnessError(Exception):
    """The witness's key or state is unusable, or a witness cannot be reached or understood."""


@dataclass(frozen=True, slots=True)
class WitnessReply:
    """A witness's answer: cosignature lines (200), its known size (409), or a status and reason."""

    status: int
    cosignatures: tuple[str, ...] = ()
    known_size: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the witness cosigned."""
        return self.status == 200  # noqa: PLR2004 - HTTP OK


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A POST is never replayed elsewhere: a redirect is answered as its own status."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _read_reply(status: int, content_type: str, body: bytes) -> WitnessReply:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessError(f"the witness answered {status} with a body that is not UTF-8") from None
    if status == 200:  # noqa: PLR2004 - HTTP OK
        lines = tuple(f"{line}\n" for line in text.removesuffix("\n").split("\n"))
        if not text.endswith("\n") or not all(line.startswith(f"{_DASH} ") for line in lines):
            raise WitnessError("the witness answered 200 without signature lines")
        return WitnessReply(status, cosignatures=lines)
    if status == 409 and content_type == _SIZE_TYPE:  # noqa: PLR2004 - HTTP Conflict
        size = _SIZE.fullmatch(text.removesuffix("\n"))
        if size is None:
            raise WitnessError("the witness answered 409 without a tree size")
        return WitnessReply(status, known_size=int(size[0]))
    reason = text.partition("\n")[0][:200]
    return WitnessReply(status, reason="".join(c for c in reason if c.isprintable()))


def submit_checkpoint(
    url: str, old_size: int, proof: Sequence[bytes], note: str, timeout: float = 5.0
) -> WitnessReply:
    """POST a signed checkpoint and its consistency proof to ``<url>/add-checkpoint``.

    ``url`` is the witness's submission prefix (``http(s)://host[:port][/path]``).
    Redirects are not followed.

    Raises:
        ValueError: a negative old size or more than 63 proof hashes.
        WitnessError: the witness cannot be reached, or its answer is malformed.
    """
    # 1. Only http(s), and a request the protocol allows.
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WitnessError("the witness URL is http(s)://host[:port][/prefix]")
    if old_size < 0 or len(proof) > _MAX_PROOF_LINES:
        raise ValueError("the old size is >= 0 and the proof has at most 63 hashes")
    lines = [f"old {old_size}\n", *(f"{base64.b64encode(node).decode()}\n" for node in proof)]
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/add-checkpoint",
        data="".join([*lines, "\n", note]).encode(),
        method="POST",
        headers={"Content-Type": _TEXT_TYPE},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    # 2. Read a bounded answer; HTTP error statuses are answers too, network failures are not.
    try:
        with opener.open(request, timeout=timeout) as response:
            answer = response.read(_MAX_RESPONSE_BODY + 1)
            status, content_type = response.status, response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(_MAX_RESPONSE_BODY + 1)
            status, content_type = exc.code, exc.headers.get_content_type()
        finally:
            exc.close()
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        raise WitnessError(f"cannot reach the witness at {parts.hostname}: {exc}") from exc
    if len(answer) > _MAX_RESPONSE_BODY:
        raise WitnessError("the witness answered with more than 64 KiB")
    return _read_reply(status, content_type, answer)
