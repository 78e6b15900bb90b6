"""Sign-in tests' helpers: clients and users on the real OpenID Connect provider, and its forms.

The provider is pytest-iam's Canaille server (the ``iam_server`` fixture), a full
OIDC provider listening on 127.0.0.1 in a thread of the test process, on a port of
the worker's own block (``iam_server_port`` in ``tests/conftest.py``). A user signs
in through its real login, password and consent pages, driven here over HTTP.

The provider's in-memory store has one quirk to mind: when an authorization code
is exchanged, any code of the same client not yet exchanged may be found instead.
A test that leaves a code unexchanged (a refused exchange) exchanges no other code
of that client afterwards: it registers a client of its own.

``providers_file`` writes the broker's providers' file (``BROKER_OIDC_FILE``) for a
client on the provider: the organisation ``albertslund``, its roles from the groups
``VISITATOR`` and ``COORDINATOR``, its departments from groups ``afdeling:<code>``.

``id_tokens_living`` sets how long the provider's ID tokens live (expired on arrival,
for a browser test where the broker's clock is the real one).

``TamperingProxy`` is an HTTP forward proxy on 127.0.0.1 that passes every request
on and, when told, rewrites the claims of the ID token in the provider's token
answer while keeping its signature: what a man in the middle would try.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from canaille.oidc.provider import OpenIDCode
from peers import free_port

from broker.oidc import Provider

CALLBACK = "http://127.0.0.1:8000/log-ind/oidc/albertslund/callback"
"""Where the broker at its default public URL takes the provider's answers for ``albertslund``."""
SCOPES = ["openid", "email", "profile", "phone", "groups"]
VISITATOR, COORDINATOR = "mægler-visitator", "mægler-koordinator"
"""The provider's groups that the providers' file maps to the broker's roles."""
SECRET_ENV = "TEST_OIDC_ALBERTSLUND_SECRET"  # noqa: S105 - a variable's name
"""The environment variable the providers' file takes the client's secret from."""
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def cpr_like() -> str:
    """Return a fresh ten-digit number shaped as a CPR number, for a planted user id.

    Fresh each time: the provider lives for the whole run, and a user id is taken once.
    """
    day, month, year = 1 + secrets.randbelow(28), 1 + secrets.randbelow(12), secrets.randbelow(100)
    return f"{day:02}{month:02}{year:02}{secrets.randbelow(10_000):04}"


def issuer(iam_server: Any) -> str:
    """Return the provider's issuer, as its metadata names it."""
    return str(iam_server.url).rstrip("/")


def register_client(
    iam_server: Any,
    *,
    redirect_uri: str = CALLBACK,
    issued_to_self: bool = True,
    audience: tuple[str, ...] = (),
) -> tuple[str, str]:
    """Register a new client on the provider; return its id and secret.

    The provider issues the client's ID tokens to the audience its own "token
    audiences" setting names: the client itself (unless ``issued_to_self`` is false)
    and the other clients in ``audience``.
    """
    models, backend = iam_server.models, iam_server.backend
    client_id, secret = f"broker-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    client = models.Client(
        client_id=client_id,
        client_secret=secret,
        client_name="Renoveringsmægleren",
        client_uri="https://broker.example",
        redirect_uris=[redirect_uri],
        grant_types=["authorization_code"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name
        scope=SCOPES,
    )
    backend.save(client)
    others = [backend.get(models.Client, client_id=other) for other in audience]
    client.audience = [client, *others] if issued_to_self else others
    backend.save(client)
    return client_id, secret


def issue_tokens_to(iam_server: Any, client_id: str, *audience: str) -> None:
    """Have the provider issue ``client_id``'s ID tokens to the clients ``audience`` only."""
    models, backend = iam_server.models, iam_server.backend
    client = backend.get(models.Client, client_id=client_id)
    client.audience = [backend.get(models.Client, client_id=other) for other in audience]
    backend.save(client)


def add_user(iam_server: Any, *, groups: tuple[str, ...] = (), **fields: Any) -> tuple[str, str]:
    """Create a user on the provider, member of ``groups``; return the user name and password."""
    models, backend = iam_server.models, iam_server.backend
    user_name = fields.pop("user_name", f"user-{secrets.token_hex(4)}")
    password = secrets.token_urlsafe(16)
    user = models.User(user_name=user_name, password=password, **fields)
    backend.save(user)
    for name in groups:
        found = backend.get(models.Group, display_name=name)
        if found is None:
            backend.save(models.Group(display_name=name, members=[user]))
        else:
            found.members = [*found.members, user]
            backend.save(found)
    return user_name, password


def providers_file(folder: Path, iam_server: Any, client_id: str, **extra: str) -> Path:
    """Write ``folder/oidc.toml`` for ``client_id`` (its secret in ``SECRET_ENV``); return it.

    ``extra`` are more keys of the provider's table, as TOML values.
    """
    lines = [
        "[providers.albertslund]",
        'name = "Albertslund Kommune"',
        f'issuer = "{issuer(iam_server)}"',
        f'client_id = "{client_id}"',
        f'client_secret_env = "{SECRET_ENV}"',
        f"scopes = {json.dumps(SCOPES)}",
        'org = "albertslund"',
        'departments = { claim = "groups", prefix = "afdeling:" }',
        (
            f'role = {{ claim = "groups", values = {{ "{VISITATOR}" = "visitator",'
            f' "{COORDINATOR}" = "coordinator" }} }}'
        ),
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    path = folder / "oidc.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def id_tokens_living(seconds: int) -> Iterator[None]:
    """While the block runs, the provider's ID tokens expire ``seconds`` after they are issued.

    Its tokens otherwise live an hour (authlib's default; Canaille has no setting for
    it). A negative value issues tokens already expired: what a broker whose clock runs
    ahead sees, for a real browser and a real `broker serve`, whose clock is not faked.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OpenIDCode, "DEFAULT_EXPIRES_IN", seconds)
        yield


def _hidden(page: httpx.Response) -> dict[str, str]:
    return dict(_HIDDEN.findall(page.text))


def log_in(
    authorization_url: str, user_name: str, password: str, *, answer: str = "accept"
) -> dict[str, str]:
    """Sign in at the provider as a browser would, and answer its consent page.

    Returns the query parameters the provider sends the browser back to the broker with.
    """
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(authorization_url)
        page = browser.get(page.url.join(page.headers["location"]))
        assert page.url.path == "/login", page.url
        sent = browser.post(page.url, data={**_hidden(page), "login": user_name})
        page = browser.get(page.url.join(sent.headers["location"]))
        assert page.url.path == "/auth/password", page.url
        sent = browser.post(page.url, data={**_hidden(page), "password": password})
        page = browser.get(page.url.join(sent.headers["location"]))
        if page.status_code == httpx.codes.OK:  # the consent page
            page = browser.post(page.url, data={**_hidden(page), "answer": answer})
        location = page.headers["location"]
    assert location.startswith(CALLBACK), location
    return dict(parse_qsl(urlsplit(location).query))


def provider_settings(iam_server: Any, client_id: str, secret: str, **claims: Any) -> Provider:
    """Return the broker's settings for the provider and client, with ``claims`` as the mapping."""
    document = {
        "name": "Albertslund Kommune",
        "issuer": issuer(iam_server),
        "client_id": client_id,
        "client_secret": secret,
        "scopes": SCOPES,
        "org": "albertslund",
        "role": {
            "claim": "groups",
            "values": {"mægler-visitator": "visitator", "mægler-koordinator": "coordinator"},
        },
        **claims,
    }
    return Provider.model_validate({k: v for k, v in document.items() if v is not None})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims_of(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class TamperingProxy:
    """A forward HTTP proxy that may rewrite the claims of ID tokens passing through it."""

    def __init__(self) -> None:
        """Listen on a free port of this worker; nothing is rewritten until ``rewrite`` is set."""
        self.port = free_port()
        self.rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.rewritten = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())

    @property
    def url(self) -> str:
        """The proxy's URL, for ``httpx.AsyncClient(proxy=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def _tamper(self, body: bytes) -> bytes:
        answer = json.loads(body)
        header, payload, signature = answer["id_token"].split(".")
        assert self.rewrite is not None
        claims = self.rewrite(_claims_of(payload))
        answer["id_token"] = ".".join((header, _b64(json.dumps(claims).encode()), signature))
        self.rewritten += 1
        return json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "proxy-connection", "connection"}
                }
                with httpx.Client(timeout=30) as upstream:
                    answer = upstream.request(
                        self.command, self.path, headers=headers, content=body
                    )
                content = answer.content
                if proxy.rewrite is not None and b'"id_token"' in content:
                    content = proxy._tamper(content)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward  # noqa: N815 - BaseHTTPRequestHandler's names

        return Handler

    @contextmanager
    def running(self) -> Iterator[TamperingProxy]:
        """Serve in a thread while the block runs."""
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()
