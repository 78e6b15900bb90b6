"""Signed webhook deliveries: HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest.

The broker signs each delivery with `sign_request`; the municipality's receiver checks it with
`verify_request` (and the body with `check_content_digest`, RFC 9530). Both sides build the
signed bytes with the one `signature_base`.

The signature parameters are written in the order ``created``, ``keyid``, ``alg``: RFC 9421
puts ``created`` before ``keyid`` in every appendix B example and ``alg`` after ``keyid`` in
section 4.3, so a signature without ``alg`` is byte for byte the shape of appendix B.2.6.
A verifier reads the parameters in whatever order they come.

Structured fields (RFC 8941) are parsed by ``_structured``. Error messages name the rule,
never a header value (only a key id is ever echoed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker.delivery._structured import (
    KEY,
    MAX_INTEGER,
    PRINTABLE,
    InnerList,
    Item,
    Params,
    parse_dictionary,
)
from broker.errors import BrokerError

__all__ = [
    "DEFAULT_COMPONENTS",
    "Headers",
    "SignatureError",
    "VerifiedSignature",
    "check_content_digest",
    "content_digest",
    "key_id",
    "sign_request",
    "signature_base",
    "verify_request",
]

#: What a delivery signs: the request line, the body (through its digest) and the retry key.
DEFAULT_COMPONENTS = ("@method", "@target-uri", "content-digest", "content-type", "idempotency-key")

#: Header fields by name (any case); a sequence holds one value per field line.
Headers = Mapping[str, str | Sequence[str]]

_ALG = "ed25519"
_SKEW = 60  # seconds a sender's clock may run ahead of ours
_DIGESTS = {"sha-256": "sha256", "sha-512": "sha512"}  # Content-Digest key: hashlib name
_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)
_PARAMS: dict[str, type] = {
    "created": int,
    "expires": int,
    "keyid": str,
    "alg": str,
    "nonce": str,
    "tag": str,
}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")
_URI = re.compile(r"[\x21-\x7e]+")
_OBS_FOLD = re.compile(r"[ \t]*\r\n[ \t]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class SignatureError(BrokerError):
    """A message signature or content digest is missing, malformed, stale or does not verify."""


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What a verified signature vouches for: the key, when it was made, what it covers."""

    key_id: str
    created: int
    components: tuple[str, ...]


def key_id(key: Ed25519PublicKey) -> str:
    """Return the key id a receiver finds a signing key by: 16 hex of SHA-256 of the raw key."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def content_digest(body: bytes) -> str:
    """Return the Content-Digest value of ``body``: ``sha-256=:<base64>:`` (RFC 9530)."""
    return f"sha-256={_sf_bytes(hashlib.sha256(body).digest())}"


def check_content_digest(header: str, body: bytes) -> None:
    """Check ``body`` against every sha-256 and sha-512 member of a Content-Digest value.

    Raises:
        SignatureError: the value is malformed, has neither member, or a member does not match.
    """
    members = _parse_dictionary(header, "Content-Digest")
    checked = False
    for algorithm, hash_name in _DIGESTS.items():
        if algorithm not in members:
            continue
        member = members[algorithm]
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise SignatureError(f"Content-Digest: {algorithm} must be a byte sequence")
        if not hmac.compare_digest(member.value, hashlib.new(hash_name, body).digest()):
            raise SignatureError(f"Content-Digest: the body does not match its {algorithm} digest")
        checked = True
    if not checked:
        raise SignatureError("Content-Digest: no sha-256 or sha-512 member")


def signature_base(
    method: str,
    target_uri: str,
    headers: Headers,
    components: Sequence[str],
    params: Mapping[str, int | str],
) -> str:
    """Return the signature base (RFC 9421 section 2.5): one line per component, then params.

    ``params`` are the signature parameters, in the order they are serialized.

    Raises:
        SignatureError: a component is unsupported, repeated or absent, or a value cannot be
            signed (not printable ASCII).
    """
    if not _TOKEN.fullmatch(method):
        raise SignatureError("@method: not an HTTP method token")
    if not _URI.fullmatch(target_uri):
        raise SignatureError("@target-uri: not printable ASCII without spaces")
    parts = urlsplit(target_uri)
    if not parts.scheme or not parts.hostname:
        raise SignatureError("@target-uri: not an absolute URI")
    lines = []
    for position, name in enumerate(components, start=1):
        if name in components[: position - 1]:
            raise SignatureError(f"covered component {position}: listed twice")
        if name in _DERIVED:
            value = _derived(name, method, target_uri)
        elif _FIELD_NAME.fullmatch(name):
            field = _field_lines(headers, name)
            if not field:
                raise SignatureError(f"covered component {position}: header field is missing")
            value = ", ".join(_OBS_FOLD.sub(" ", line).strip(" \t") for line in field)
        else:
            raise SignatureError(f"covered component {position}: unsupported component name")
        if not _VALUE.fullmatch(value):
            raise SignatureError(f"covered component {position}: value is not printable ASCII")
        lines.append(f"{_sf_string(name)}: {value}\n")
    lines.append(f'"@signature-params": {_signature_params(components, params)}')
    return "".join(lines)


def sign_request(  # noqa: PLR0913, PLR0917 - the RFC's inputs, each with a sensible default
    method: str,
    target_uri: str,
    headers: Headers,
    key: Ed25519PrivateKey,
    key_id: str,
    created: int,
    components: Sequence[str] = DEFAULT_COMPONENTS,
    label: str = "sig1",
    nonce: str | None = None,
) -> dict[str, str]:
    """Sign a request; return its ``Signature-Input`` and ``Signature`` header values.

    Set ``Content-Digest`` (see `content_digest`) in ``headers`` before signing it.
    A ``nonce`` makes two signatures of the same request in the same second differ,
    so a receiver can tell a retry from a replay.

    Raises:
        SignatureError: the label, key id or a covered component cannot be signed.
    """
    _check_key(label, "label")
    params: dict[str, int | str] = {"created": created, "keyid": key_id, "alg": _ALG}
    if nonce is not None:
        if not _NONCE.fullmatch(nonce):
            raise SignatureError("nonce: 8-64 letters, digits, _ or -")
        params["nonce"] = nonce
    base = signature_base(method, target_uri, headers, components, params)
    signature = key.sign(base.encode("ascii"))
    return {
        "Signature-Input": f"{label}={_signature_params(components, params)}",
        "Signature": f"{label}={_sf_bytes(signature)}",
    }


def verify_request(  # noqa: PLR0913 - the RFC's inputs and the receiver's policy
    method: str,
    target_uri: str,
    headers: Headers,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    now: int,
    max_age: int = 300,
    required: Sequence[str] = DEFAULT_COMPONENTS,
    label: str = "sig1",
    body: bytes | None = None,
) -> VerifiedSignature:
    """Verify the request's signature ``label``; with ``body``, check its Content-Digest too.

    Without an ``alg`` parameter the key decides the algorithm (every key here is Ed25519).

    Raises:
        SignatureError: naming the rule the request breaks.
    """
    # 1. This label's entries in Signature-Input and Signature, each of the right type.
    entry, signature = _entries(headers, label)
    # 2. The covered components (plain strings, each once) and the known parameters,
    #    of which created and keyid are required.
    components, params = _covered(entry), _checked_params(entry.params)
    created, key_id = params.get("created"), params.get("keyid")
    if not isinstance(created, int) or not isinstance(key_id, str):
        raise SignatureError("Signature-Input: created and keyid are required")
    # 3. The key named by keyid, among the keys we trust.
    key = public_keys.get(key_id)
    if key is None:
        raise SignatureError(f"Signature-Input: unknown keyid {key_id[:64]!r}")
    # 4. The algorithm: the key fixes it; an alg parameter must agree.
    if params.get("alg", _ALG) != _ALG:
        raise SignatureError("Signature-Input: alg must be ed25519")
    # 5. Our requirements: every required component is covered.
    _check_required(components, required)
    # 6. Freshness: not from the future (beyond the skew), not older than max_age, not expired.
    _check_fresh(created, params.get("expires"), now=now, max_age=max_age)
    # 7. Rebuild the signature base from the parsed parameters, and check the signature.
    base = signature_base(method, target_uri, headers, components, params)
    try:
        key.verify(signature, base.encode("ascii"))
    except InvalidSignature:
        raise SignatureError("Signature: does not verify") from None
    # 8. With a body: the (signed) Content-Digest must match it.
    if body is not None:
        if "content-digest" not in components:
            raise SignatureError("Signature-Input: content-digest is not covered")
        check_content_digest(_header(headers, "Content-Digest"), body)
    return VerifiedSignature(key_id, created, components)


def _derived(name: str, method: str, target_uri: str) -> str:
    """Return a derived component's value (RFC 9421 section 2.2)."""
    parts = urlsplit(target_uri)
    path = parts.path or "/"
    if name == "@authority":
        return _authority(target_uri)
    return {
        "@method": method,
        "@target-uri": target_uri,
        "@scheme": parts.scheme,
        "@path": path,
        "@query": f"?{parts.query}",
        "@request-target": f"{path}?{parts.query}" if parts.query else path,
    }[name]


def _authority(target_uri: str) -> str:
    """Return the URI's host (lower case) and port, the scheme's default port left out."""
    parts = urlsplit(target_uri)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        raise SignatureError("@authority: the port is not a number") from None
    return host if port in (None, _DEFAULT_PORTS.get(parts.scheme)) else f"{host}:{port}"


def _field_lines(headers: Headers, name: str) -> list[str]:
    """Return every field line of ``name`` (compared case-insensitively), in order."""
    lines: list[str] = []
    for key, value in headers.items():
        if key.lower() == name:
            lines.extend([value] if isinstance(value, str) else value)
    return lines


def _header(headers: Headers, name: str) -> str:
    """Return a header's combined value, or raise if it is absent."""
    lines = _field_lines(headers, name.lower())
    if not lines:
        raise SignatureError(f"{name}: header is missing")
    return ", ".join(line.strip(" \t") for line in lines)


def _entries(headers: Headers, label: str) -> tuple[InnerList, bytes]:
    """Return the label's Signature-Input inner list and Signature bytes."""
    entry = _parse_dictionary(_header(headers, "Signature-Input"), "Signature-Input").get(label)
    if not isinstance(entry, InnerList):
        raise SignatureError(f"Signature-Input: no inner list labelled {label}")
    signed = _parse_dictionary(_header(headers, "Signature"), "Signature").get(label)
    if not isinstance(signed, Item) or not isinstance(signed.value, bytes):
        raise SignatureError(f"Signature: no byte sequence labelled {label}")
    return entry, signed.value


def _check_required(components: tuple[str, ...], required: Sequence[str]) -> None:
    for name in required:
        if name.lower() not in components:
            raise SignatureError(f"Signature-Input: required component {name} is not covered")


def _check_fresh(created: int, expires: int | str | None, *, now: int, max_age: int) -> None:
    if created > now + _SKEW:
        raise SignatureError("Signature-Input: created is in the future")
    if now - created > max_age:
        raise SignatureError("Signature-Input: created is older than the maximum age")
    if isinstance(expires, int) and now > expires:
        raise SignatureError("Signature-Input: the signature has expired")


def _covered(entry: InnerList) -> tuple[str, ...]:
    """Return the covered component names: strings without parameters, none twice."""
    names = []
    for item in entry.items:
        if not isinstance(item.value, str) or item.params:
            raise SignatureError("Signature-Input: unsupported component identifier")
        if item.value in names:
            raise SignatureError("Signature-Input: a component is covered twice")
        names.append(item.value)
    return tuple(names)


def _checked_params(params: Params) -> dict[str, int | str]:
    """Return the signature parameters, each a known name of the right type."""
    for name, value in params.items():
        kind = _PARAMS.get(name)
        if kind is None or type(value) is not kind:
            raise SignatureError("Signature-Input: unknown or mistyped signature parameter")
    return {name: value for name, value in params.items() if isinstance(value, int | str)}


_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _check_key(key: str, what: str) -> None:
    if not KEY.fullmatch(key):
        raise SignatureError(f"{what}: not a structured-field key")


def _sf_string(value: str) -> str:
    if not PRINTABLE.fullmatch(value):
        raise SignatureError("a structured-field string must be printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sf_bytes(value: bytes) -> str:
    return f":{base64.b64encode(value).decode('ascii')}:"


def _sf_bare(value: int | str) -> str:
    if isinstance(value, str):
        return _sf_string(value)
    if isinstance(value, bool) or abs(value) > MAX_INTEGER:
        raise SignatureError("a structured-field integer has at most 15 digits")
    return str(value)


def _signature_params(components: Sequence[str], params: Mapping[str, int | str]) -> str:
    """Serialize the covered components and parameters as an inner list."""
    for name in params:
        _check_key(name, "signature parameter")
    inner = " ".join(_sf_string(name) for name in components)
    return f"({inner})" + "".join(f";{name}={_sf_bare(v)}" for name, v in params.items())


def _parse_dictionary(text: str, field: str) -> dict[str, Item | InnerList]:
    """Parse a structured-field dictionary, or raise naming the field."""
    try:
        return parse_dictionary(text)
    except ValueError:
        raise SignatureError(f"{field}: not a valid structured-field dictionary") from None
