"""Signed webhook deliveries: RFC 9421 (Ed25519) signatures and RFC 9530 Content-Digest."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from hypothesis import given
from hypothesis import strategies as st

from broker.delivery import (
    DEFAULT_COMPONENTS,
    Headers,
    SignatureError,
    VerifiedSignature,
    check_content_digest,
    content_digest,
    sign_request,
    signature_base,
    verify_request,
)

# --- Published vectors -----------------------------------------------------------------------

# RFC 9421 appendix B.1.4, "Example Ed25519 Test Key" (test-key-ed25519).
RFC_PRIVATE_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""

# RFC 9421 appendix B.2, the test-request (the parts the examples below cover).
RFC_METHOD = "POST"
RFC_URI = "http://example.com/foo?param=Value&Pet=dog"
RFC_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWX"
        "vJwew==:"
    ),
    "Content-Length": "18",
}
RFC_BODY = b'{"hello": "world"}'

# RFC 9421 appendix B.2.6, "Signing a Request Using ed25519" (RFC 8792 line folding undone).
B26_COMPONENTS = ("date", "@method", "@path", "@authority", "content-type", "content-length")
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPp"
    "BKRCw==:"
)

# RFC 9421 appendix B.2.3, "Full Coverage Using rsa-pss-sha512": its signature base only (the
# RSA-PSS signature is randomised and not Ed25519).
B23_COMPONENTS = (
    "date",
    "@method",
    "@path",
    "@query",
    "@authority",
    "content-type",
    "content-digest",
    "content-length",
)
B23_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@query": ?param=Value&Pet=dog\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BN'
    "NyealdVLvRwEmTHWXvJwew==:\n"
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type"'
    ' "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"'
)

# RFC 9530 appendix B.1 and section 2: `{"hello": "world"}` and a line feed.
HELLO = b'{"hello": "world"}\n'
HELLO_SHA256 = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
HELLO_SHA512 = (
    "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3q"
    "g==:"
)
# RFC 9530 appendix B.2: empty content.
EMPTY_SHA256 = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"

# --- Our own deliveries ----------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KEY_ID = "broker-1"
KEYS = {KEY_ID: KEY.public_key()}
NOW = 1_800_000_000
URI = "https://albertslund.example/webhooks/releases?kommune=0165"
BODY = b'{"release": "r-0001", "dwellings": 5}'


def _signed(
    key: Ed25519PrivateKey = KEY,
    *,
    body: bytes = BODY,
    created: int = NOW,
    components: tuple[str, ...] = DEFAULT_COMPONENTS,
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Content-Digest": content_digest(body),
        "Idempotency-Key": "r-0001",
    }
    headers.update(sign_request("POST", URI, headers, key, KEY_ID, created, components))
    return headers


def _verify(
    headers: Headers,
    *,
    method: str = "POST",
    uri: str = URI,
    body: bytes | None = BODY,
    keys: dict[str, Ed25519PublicKey] | None = None,
) -> VerifiedSignature:
    return verify_request(method, uri, headers, KEYS if keys is None else keys, now=NOW, body=body)


def _rejected(  # noqa: PLR0913 - each request part can be the changed one
    headers: Headers,
    rule: str,
    *,
    method: str = "POST",
    uri: str = URI,
    body: bytes | None = BODY,
    keys: dict[str, Ed25519PublicKey] | None = None,
) -> None:
    with pytest.raises(SignatureError, match=rule):
        _verify(headers, method=method, uri=uri, body=body, keys=keys)


# --- RFC 9421 appendix B ---------------------------------------------------------------------


def test_rfc_test_key_halves_belong_together() -> None:
    """The B.1.4 private key's public half is the B.1.4 public key."""
    private = load_pem_private_key(RFC_PRIVATE_PEM, None)
    public = load_pem_public_key(RFC_PUBLIC_PEM)
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    raw = (Encoding.Raw, PublicFormat.Raw)
    assert private.public_key().public_bytes(*raw) == public.public_bytes(*raw)


def test_rfc_b26_signature_base_byte_for_byte() -> None:
    """The B.2.6 signature base is reproduced exactly."""
    params: dict[str, int | str] = {"created": 1618884473, "keyid": "test-key-ed25519"}
    base = signature_base(RFC_METHOD, RFC_URI, RFC_HEADERS, B26_COMPONENTS, params)
    assert base == B26_BASE


def test_rfc_b26_signature_byte_for_byte() -> None:
    """Ed25519 is deterministic: signing the B.2.6 base with the B.1.4 key gives its signature."""
    key = load_pem_private_key(RFC_PRIVATE_PEM, None)
    assert isinstance(key, Ed25519PrivateKey)
    signature = base64.b64encode(key.sign(B26_BASE.encode("ascii"))).decode()
    assert f"sig-b26=:{signature}:" == B26_SIGNATURE


def test_rfc_b26_request_verifies() -> None:
    """The B.2.6 Signature-Input and Signature verify with the B.1.4 public key."""
    public = load_pem_public_key(RFC_PUBLIC_PEM)
    assert isinstance(public, Ed25519PublicKey)
    headers = {**RFC_HEADERS, "Signature-Input": B26_SIGNATURE_INPUT, "Signature": B26_SIGNATURE}
    verified = verify_request(
        RFC_METHOD,
        RFC_URI,
        headers,
        {"test-key-ed25519": public},
        now=1618884473,
        required=B26_COMPONENTS,
        label="sig-b26",
    )
    assert verified == VerifiedSignature("test-key-ed25519", 1618884473, B26_COMPONENTS)


def test_rfc_b23_signature_base_with_query_and_digest() -> None:
    """The B.2.3 signature base (with @query and content-digest) is reproduced exactly."""
    params: dict[str, int | str] = {"created": 1618884473, "keyid": "test-key-rsa-pss"}
    base = signature_base(RFC_METHOD, RFC_URI, RFC_HEADERS, B23_COMPONENTS, params)
    assert base == B23_BASE


PATH = "https://www.example.com/path"


@pytest.mark.parametrize(
    ("uri", "component", "value"),
    [
        (f"{PATH}?param=value", "@target-uri", f"{PATH}?param=value"),
        (f"{PATH}?param=value", "@authority", "www.example.com"),
        (f"{PATH}?param=value", "@scheme", "https"),
        (f"{PATH}?param=value", "@path", "/path"),
        (f"{PATH}?param=value", "@request-target", "/path?param=value"),
        (f"{PATH}?param=value&baz=bat%2Dman", "@query", "?param=value&baz=bat%2Dman"),
        (f"{PATH}?queryString", "@query", "?queryString"),
        (PATH, "@query", "?"),
        (PATH, "@request-target", "/path"),
        ("https://WWW.Example.COM:443", "@authority", "www.example.com"),
        ("https://WWW.Example.COM:443", "@path", "/"),
        ("http://example.com:8080/a", "@authority", "example.com:8080"),
        ("http://user@[2001:db8::1]:80/a", "@authority", "[2001:db8::1]"),
    ],
)
def test_derived_components(uri: str, component: str, value: str) -> None:
    """Derived components take their values as RFC 9421 section 2.2 defines them."""
    base = signature_base("GET", uri, {}, (component,), {})
    assert base == f'"{component}": {value}\n"@signature-params": ("{component}")'


# --- RFC 9530 Content-Digest -----------------------------------------------------------------


def test_rfc9530_content_digest_vectors() -> None:
    """The RFC 9530 sha-256 values for `{"hello": "world"}` + LF and for empty content."""
    assert content_digest(HELLO) == HELLO_SHA256
    assert content_digest(b"") == EMPTY_SHA256


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (HELLO_SHA256, HELLO),
        (HELLO_SHA512, HELLO),
        (f"{HELLO_SHA256},{HELLO_SHA512}", HELLO),
        (f"md5=:AAAA:, {HELLO_SHA512}", HELLO),
        (RFC_HEADERS["Content-Digest"], RFC_BODY),
    ],
)
def test_content_digest_accepts_published_values(header: str, body: bytes) -> None:
    """RFC 9530's sha-256/sha-512 values and RFC 9421's B.2 digest check; others are ignored."""
    check_content_digest(header, body)


@pytest.mark.parametrize(
    ("header", "body", "rule"),
    [
        (HELLO_SHA256, b'{"hello": "world"}', "does not match its sha-256"),
        (f"{HELLO_SHA256}, sha-512=:{base64.b64encode(bytes(64)).decode()}:", HELLO, "sha-512"),
        ("md5=:AAAA:, unixsum=30637", HELLO, "no sha-256 or sha-512"),
        ("", HELLO, "no sha-256 or sha-512"),
        ("sha-256=30637", HELLO, "must be a byte sequence"),
        ("sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=", HELLO, "not a valid structured"),
        ("sha-256=:RK/0qy18MlBSVnWg!wz6lZEWjP/lF5HF9bvEF8FabDg=:", HELLO, "not a valid structured"),
        ("SHA-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:", HELLO, "not a valid structured"),
        (f"{HELLO_SHA256},", HELLO, "not a valid structured"),
    ],
)
def test_content_digest_rejects(header: str, body: bytes, rule: str) -> None:
    """A changed body, a missing sha-256/sha-512 member or a malformed value is refused."""
    with pytest.raises(SignatureError, match=rule):
        check_content_digest(header, body)


# --- Round trips -----------------------------------------------------------------------------


def test_signature_input_format() -> None:
    """Signature-Input lists the components, then created, keyid and alg, in that order."""
    headers = _signed()
    assert headers["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-digest" "content-type" "idempotency-key")'
        f';created={NOW};keyid="{KEY_ID}";alg="ed25519"'
    )
    assert headers["Signature"].startswith("sig1=:")
    assert len(base64.b64decode(headers["Signature"][6:-1])) == 64


def test_round_trip_with_fresh_keys() -> None:
    """A request signed with a fresh key verifies, body included, and says what it covers."""
    key = Ed25519PrivateKey.generate()
    verified = _verify(_signed(key), keys={KEY_ID: key.public_key()})
    assert verified == VerifiedSignature(KEY_ID, NOW, DEFAULT_COMPONENTS)


def test_header_names_are_case_insensitive() -> None:
    """Header names match in any case, on both sides."""
    headers = {name.upper(): value for name, value in _signed().items()}
    assert _verify(headers).key_id == KEY_ID
    assert _verify({name.lower(): value for name, value in headers.items()}).created == NOW


def test_field_lines_are_trimmed_and_joined() -> None:
    """Several field lines join with ", ", each trimmed; an obsolete line fold becomes a space."""
    headers = {"X-Tag": [" a ", "b\r\n  c"], "x-tag": "d"}
    base = signature_base("GET", URI, headers, ("x-tag",), {})
    assert base.startswith('"x-tag": a, b c, d\n')


def test_other_signatures_alongside_are_ignored() -> None:
    """Another label's signature in the same fields does not disturb ours."""
    headers = _signed()
    headers["Signature-Input"] = f'proxy=("@method");created={NOW}, {headers["Signature-Input"]}'
    headers["Signature"] = f"proxy=:AAAA:, {headers['Signature']}"
    assert _verify(headers).components == DEFAULT_COMPONENTS


def test_created_within_clock_skew_is_accepted() -> None:
    """A sender's clock up to 60 s ahead, and a signature exactly max_age old, are accepted."""
    assert _verify(_signed(created=NOW + 60)).created == NOW + 60
    assert _verify(_signed(created=NOW - 300)).created == NOW - 300


# --- Must fail -------------------------------------------------------------------------------


def test_changed_body_is_rejected() -> None:
    """A body that is not the signed one fails its Content-Digest."""
    _rejected(_signed(), "Content-Digest: the body does not match", body=BODY + b" ")


def test_changed_header_is_rejected() -> None:
    """A covered header changed after signing breaks the signature."""
    headers = {**_signed(), "Content-Type": "text/plain"}
    _rejected(headers, "Signature: does not verify")


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "PUT"},
        {"uri": URI.replace("0165", "0101")},
        {"uri": URI.replace("https", "http")},
    ],
)
def test_changed_method_or_uri_is_rejected(changes: dict[str, str]) -> None:
    """Another method or target URI breaks the signature."""
    with pytest.raises(SignatureError, match="Signature: does not verify"):
        _verify(_signed(), **changes)  # type: ignore[arg-type]


def test_component_not_covered_is_rejected() -> None:
    """A signature that leaves out a required component is refused, naming it."""
    headers = _signed(components=("@method", "@target-uri", "content-digest", "content-type"))
    _rejected(headers, "required component idempotency-key is not covered")


def test_body_without_covered_digest_is_rejected() -> None:
    """A body cannot be checked against a Content-Digest the signature does not cover."""
    headers = _signed(components=("@method", "@target-uri"))
    with pytest.raises(SignatureError, match="content-digest is not covered"):
        verify_request("POST", URI, headers, KEYS, now=NOW, required=(), body=BODY)


def test_wrong_key_is_rejected() -> None:
    """A signature by another key under our key id does not verify."""
    _rejected(_signed(OTHER_KEY), "Signature: does not verify")


def test_unknown_keyid_is_rejected() -> None:
    """A key id we do not trust is refused, and named."""
    _rejected(_signed(), "unknown keyid 'broker-1'", keys={"broker-2": KEY.public_key()})


def test_stale_created_is_rejected() -> None:
    """A signature older than max_age is refused."""
    _rejected(_signed(created=NOW - 301), "older than the maximum age")


def test_future_created_is_rejected() -> None:
    """A signature from more than 60 s in the future is refused."""
    _rejected(_signed(created=NOW + 61), "created is in the future")


def _retagged(old: str, new: str) -> dict[str, str]:
    headers = _signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace(old, new)
    return headers


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ('alg="ed25519"', 'alg="rsa-pss-sha512"', "alg must be ed25519"),
        ('alg="ed25519"', 'alg="Ed25519"', "alg must be ed25519"),
        ('alg="ed25519"', "alg=ed25519", "unknown or mistyped signature parameter"),
        ('alg="ed25519"', f'alg="ed25519";expires={NOW - 1}', "has expired"),
        ('alg="ed25519"', 'alg="ed25519";foo=1', "unknown or mistyped signature parameter"),
        (f"created={NOW}", f'created="{NOW}"', "unknown or mistyped signature parameter"),
        (f"created={NOW};", "", "created and keyid are required"),
        ('keyid="broker-1";', "", "created and keyid are required"),
        ('"content-type"', '"content-type";sf', "unsupported component identifier"),
        ('"content-type"', '"@method"', "covered twice"),
        ('"content-type"', "content-type", "unsupported component identifier"),
        ('"content-type"', '"@status"', "unsupported component name"),
        ('"content-type"', '"Content-Type"', "unsupported component name"),
        ('"content-type"', '"@signature-params"', "unsupported component name"),
    ],
)
def test_bad_signature_parameters_are_rejected(old: str, new: str, rule: str) -> None:
    """Another alg, a stale expires, unknown or missing parameters, odd components: refused."""
    headers = _retagged(old, new)
    with pytest.raises(SignatureError, match=rule):
        verify_request("POST", URI, headers, KEYS, now=NOW, required=(), body=None)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("Signature-Input", 'sig1=("@method"', "Signature-Input: not a valid"),
        ("Signature-Input", 'sig1=("@method");created=1;', "Signature-Input: not a valid"),
        ("Signature-Input", 'sig1=("@method" "cpr-0101801234)', "Signature-Input: not a valid"),
        ("Signature-Input", 'sig1=("@method");created=1234567890123456', "Signature-Input: not a"),
        ("Signature-Input", 'sig1=("@method");keyid="bø"', "Signature-Input: not a valid"),
        ("Signature-Input", 'sig1="@method"', "no inner list labelled sig1"),
        ("Signature-Input", 'sig2=("@method");created=1', "no inner list labelled sig1"),
        ("Signature", "sig1=:0101801234", "Signature: not a valid"),
        ("Signature", "sig1=:01018012!!:", "Signature: not a valid"),
        ("Signature", "sig1=:0101801234:,", "Signature: not a valid"),
        ("Signature", 'sig1="0101801234"', "no byte sequence labelled sig1"),
        ("Signature", "sig1", "no byte sequence labelled sig1"),
        ("Signature", "sig1=:AAAA:", "Signature: does not verify"),
    ],
)
def test_malformed_signature_fields_are_rejected(field: str, value: str, rule: str) -> None:
    """Malformed Signature-Input or Signature values are refused without echoing them."""
    headers = {**_signed(), field: value}
    with pytest.raises(SignatureError, match=rule) as caught:
        _verify(headers)
    assert "0101801234" not in str(caught.value)
    assert "bø" not in str(caught.value)


@pytest.mark.parametrize("field", ["Signature-Input", "Signature"])
def test_missing_signature_fields_are_rejected(field: str) -> None:
    """A request without Signature-Input or Signature is refused."""
    headers = {name: value for name, value in _signed().items() if name != field}
    _rejected(headers, f"{field}: header is missing")


@pytest.mark.parametrize(
    ("headers", "components", "uri", "rule"),
    [
        ({}, ("content-type",), URI, "covered component 1: header field is missing"),
        ({"a": "1"}, ("a", "a"), URI, "covered component 2: listed twice"),
        ({"a": "x\r\nInjected: 1"}, ("a",), URI, "covered component 1: value is not printable"),
        ({"a": "Dø"}, ("a",), URI, "covered component 1: value is not printable"),
        ({}, ("@query-param",), URI, "unsupported component name"),
        ({}, ("@method",), "/webhooks/releases", "not an absolute URI"),
        ({}, ("@method",), "https://example.com/a b", "not printable ASCII"),
        ({}, ("@authority",), "https://example.com:https/", "the port is not a number"),
    ],
)
def test_signature_base_refuses_what_it_cannot_sign(
    headers: Headers, components: tuple[str, ...], uri: str, rule: str
) -> None:
    """Missing, repeated, unsupported or non-ASCII components and relative URIs are refused."""
    with pytest.raises(SignatureError, match=rule):
        signature_base("POST", uri, headers, components, {})


@pytest.mark.parametrize(
    ("label", "key_id", "rule"),
    [("Sig1", KEY_ID, "label: not a structured-field key"), ("sig1", "nøgle", "printable ASCII")],
)
def test_sign_refuses_bad_label_or_key_id(label: str, key_id: str, rule: str) -> None:
    """A label that is no structured-field key, or a non-ASCII key id, cannot be signed."""
    with pytest.raises(SignatureError, match=rule):
        sign_request("POST", URI, _signed(), KEY, key_id, NOW, label=label)


# --- Property --------------------------------------------------------------------------------

COVERED_FIELDS = ("Content-Type", "Content-Digest", "Idempotency-Key")


def _one_changed(data: st.DataObject, value: bytes) -> bytes:
    at = data.draw(st.integers(0, len(value) - 1), label="at")
    new = data.draw(st.integers(0, 255).filter(lambda byte: byte != value[at]), label="byte")
    return value[:at] + bytes([new]) + value[at + 1 :]


@given(data=st.data(), body=st.binary(min_size=1, max_size=64))
def test_any_single_byte_change_is_rejected(data: st.DataObject, body: bytes) -> None:
    """Changing any one byte of the body or of a covered header value fails verification."""
    headers = _signed(body=body)
    assert _verify(headers, body=body).key_id == KEY_ID
    target = data.draw(st.sampled_from(("body", *COVERED_FIELDS)), label="target")
    if target == "body":
        changed_headers, changed_body = headers, _one_changed(data, body)
    else:
        value = _one_changed(data, headers[target].encode("latin-1")).decode("latin-1")
        changed_headers, changed_body = {**headers, target: value}, body
    with pytest.raises(SignatureError):
        _verify(changed_headers, body=changed_body)


def test_a_nonce_makes_two_signatures_in_one_second_differ() -> None:
    """The same request signed twice in one second differs only when a nonce is given."""
    key = Ed25519PrivateKey.generate()
    headers = {"content-type": "application/json", "idempotency-key": "rel-1"}
    headers["content-digest"] = content_digest(b"{}")
    components = ("@method", "@target-uri", "content-digest")
    same = [
        sign_request("POST", "http://r.example/releases", headers, key, "k", 1, components)
        for _ in range(2)
    ]
    fresh = [
        sign_request("POST", "http://r.example/releases", headers, key, "k", 1, components, nonce=n)
        for n in ("nonce-aaaaaaaa", "nonce-bbbbbbbb")
    ]
    assert same[0] == same[1]
    assert fresh[0]["Signature"] != fresh[1]["Signature"]
    assert ';nonce="nonce-aaaaaaaa"' in fresh[0]["Signature-Input"]
    verified = verify_request(
        "POST",
        "http://r.example/releases",
        {**headers, **fresh[0]},
        {"k": key.public_key()},
        now=1,
        required=components,
    )
    assert verified.key_id == "k"
