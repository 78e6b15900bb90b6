"""The client side of C2SP tlog-witness: submit a checkpoint, read the witness's answer.

``add_checkpoint_body`` and ``read_witness_reply`` are the protocol, for any HTTP client
(the broker sends through a kept-alive ``httpx`` client per witness);
``submit_checkpoint`` sends one request with the standard library alone.
"""

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

__all__ = [
    "ADD_CHECKPOINT_TYPE",
    "MAX_WITNESS_REPLY",
    "WitnessError",
    "WitnessReply",
    "add_checkpoint_body",
    "read_witness_reply",
    "submit_checkpoint",
]

_MAX_PROOF_LINES = 63
MAX_WITNESS_REPLY = 64 * 1024
"""The longest witness answer read; a longer one is an error."""
_SIZE_TYPE = "text/x.tlog.size"
ADD_CHECKPOINT_TYPE = "text/plain; charset=utf-8"
"""The Content-Type of an add-checkpoint request."""
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


def read_witness_reply(status: int, content_type: str, body: bytes) -> WitnessReply:
    """Read a witness's answer to add-checkpoint; ``content_type`` without parameters.

    Raises:
        WitnessError: a body over 64 KiB, not UTF-8, a 200 without signature lines,
            or a 409 of type ``text/x.tlog.size`` without a tree size.
    """
    if len(body) > MAX_WITNESS_REPLY:
        raise WitnessError("the witness answered with more than 64 KiB")
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


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """Return the add-checkpoint body: the old size, proof lines, a blank line and the note.

    Raises:
        ValueError: a negative old size or more than 63 proof hashes.
    """
    if old_size < 0 or len(proof) > _MAX_PROOF_LINES:
        raise ValueError("the old size is >= 0 and the proof has at most 63 hashes")
    lines = [f"old {old_size}\n", *(f"{base64.b64encode(node).decode()}\n" for node in proof)]
    return "".join([*lines, "\n", note]).encode()


def submit_checkpoint(
    url: str, old_size: int, proof: Sequence[bytes], note: str, timeout: float = 5.0
) -> WitnessReply:
    """POST a signed checkpoint and its consistency proof to ``<url>/add-checkpoint``.

    ``url`` is the witness's submission prefix (``http(s)://host[:port][/path]``).
    Redirects are not followed. One connection per call.

    Raises:
        ValueError: a negative old size or more than 63 proof hashes.
        WitnessError: the witness cannot be reached, or its answer is malformed.
    """
    # 1. Only http(s), and a request the protocol allows.
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WitnessError("the witness URL is http(s)://host[:port][/prefix]")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/add-checkpoint",
        data=add_checkpoint_body(old_size, proof, note),
        method="POST",
        headers={"Content-Type": ADD_CHECKPOINT_TYPE},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    # 2. Read a bounded answer; HTTP error statuses are answers too, network failures are not.
    try:
        with opener.open(request, timeout=timeout) as response:
            answer = response.read(MAX_WITNESS_REPLY + 1)
            status, content_type = response.status, response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(MAX_WITNESS_REPLY + 1)
            status, content_type = exc.code, exc.headers.get_content_type()
        finally:
            exc.close()
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        raise WitnessError(f"cannot reach the witness at {parts.hostname}: {exc}") from exc
    return read_witness_reply(status, content_type, answer)
