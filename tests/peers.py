"""Push and delivery tests' helpers: a broker site, a `broker receiver` process, a bad proxy.

The proxy is a small stdlib HTTP server on 127.0.0.1 placed between the broker and
the receiver. For its first requests it misbehaves as told (answers 500, answers too
late, hangs up, flips a byte, holds the request), then forwards each request
unchanged: same method, path, headers (in order) and body. A fault may also be an HTTP
status (413, 400, 429, ...), answered without passing the request on. It keeps every exchange,
so a test can replay a captured request or scan what crossed the wire.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from clirun import run_broker
from databases import Database
from factories import write_csv
from sqlalchemy import select

from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.ingest.service import ingest_file
from broker.keys import load_keys
from broker.policy import Policy, load_policy_file
from broker.policy.service import explain
from broker.release import Release, _payload, release_body

# What the proxy does with one request; a number is an HTTP status answered without
# passing the request on (with `Proxy.retry_after`, if set, as its Retry-After header).
Fault = (
    Literal[
        "forward",  # pass it on unchanged and relay the answer
        "error",  # answer 500 without passing it on
        "slow",  # pass it on, then answer only after the client has given up
        "hangup",  # close the connection without answering
        "flip",  # pass it on with one byte of the body flipped, relay the answer
        "hold",  # keep it open until `Proxy.let_go`, then pass it on
    ]
    | int
)

POLICY = "albertslund-visitation-weekly"
POLICIES = Path(__file__).resolve().parents[1] / "policies"
RECIPIENT = "albertslund/visitation"
# `broker push` runs at the current UTC date: phases relative to it are in its window.
TODAY = dt.datetime.now(dt.UTC).date()
PHASES = (
    ("varsling", TODAY + dt.timedelta(days=3), TODAY + dt.timedelta(days=3)),
    ("genhusning", TODAY + dt.timedelta(days=14), TODAY + dt.timedelta(days=100)),
)


def changes_policies(directory: Path) -> tuple[Path, Policy]:
    """Write the weekly policy in `mode: changes` into `directory`; return it and the policy."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (POLICIES / f"{POLICY}.yaml").read_text(encoding="utf-8")
    assert "\nmode: snapshot\n" in text
    path = directory / f"{POLICY}.yaml"
    path.write_text(text.replace("\nmode: snapshot\n", "\nmode: changes\n"), encoding="utf-8")
    loaded, problems = load_policy_file(path)
    assert loaded is not None, problems
    return directory, loaded.policy


def apply_release(held: dict[str, dict[str, Any]], content: dict[str, Any]) -> None:
    """Apply one release to a recipient's set, as a receiver must: replace, or upsert and remove."""
    if content["mode"] == "snapshot":
        held.clear()
    held.update({record["key"]: record for record in content["dwellings"]})
    for key in content["withdrawn"]:
        held.pop(key, None)


# Ports for the servers tests start: below the kernel's ephemeral range (32768 and up on
# Linux, where `bind(0)` and outgoing connections take theirs), one block per pytest-xdist
# worker. A port handed out here is so never handed to another worker of the run, nor
# taken meanwhile as the source port of some connection, before its server binds it.
_PORTS_FROM = 20000
_PORTS_PER_WORKER = 500
_WORKER_BLOCKS = 25  # 20000..32499
_next_port = itertools.count(secrets.randbelow(_PORTS_PER_WORKER))


def _worker_number() -> int:
    found = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(found.group(1)) % _WORKER_BLOCKS if found else 0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on just now, this worker's own.

    Successive calls give different ports (they cycle through the worker's block), so two
    servers a test starts get two ports even before either binds.
    """
    block = _PORTS_FROM + _worker_number() * _PORTS_PER_WORKER
    for _ in range(_PORTS_PER_WORKER):
        port = block + next(_next_port) % _PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (another run on this machine, or TIME_WAIT)
            return port
    raise AssertionError("no free port in this worker's block")


def broker_env(database: Database, home: Path, extra: dict[str, str]) -> dict[str, str]:
    """Return the environment `clirun.run_broker` gives `broker`, for a process started apart."""
    return {
        **os.environ,
        "BROKER_HOME": str(home),
        "BROKER_DATABASE_URL": database.url,
        "BROKER_LOG_FORMAT": "json",
        **extra,
    }


def post_exactly(
    port: int, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes
) -> tuple[int, bytes]:
    """Send a request to 127.0.0.1:`port` with exactly these headers and body; return the answer.

    Host and Content-Length are added only when `headers` lacks them.
    """
    names = {name.lower() for name, _ in headers}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if "content-length" not in names:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class ReceiverProcess:
    """A real `broker receiver` on 127.0.0.1; its output goes to files under its store's parent."""

    def __init__(  # noqa: PLR0913 - its options, keyword-only
        self,
        public_key: Path,
        store: Path,
        *,
        port: int | None = None,
        public_url: str = "",
        max_body_mib: int | None = None,
        witness: bool = False,
    ) -> None:
        """Remember how to start it; `start` starts it (with `witness`, as a witness too)."""
        self.max_body_mib = max_body_mib
        self.witness = witness
        self.public_key = public_key
        self.store = store
        self.port = port or free_port()
        self.public_url = public_url
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout = store.parent / f"{store.name}.stdout"
        self.stderr = store.parent / f"{store.name}.stderr"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ReceiverProcess:
        """Start the process (without waiting for it to listen) and return self."""
        command = [
            sys.executable,
            "-m",
            "broker",
            "receiver",
            "--port",
            str(self.port),
            "--public-key",
            str(self.public_key),
            "--store",
            str(self.store),
        ]
        if self.public_url:
            command += ["--public-url", self.public_url]
        if self.max_body_mib is not None:
            command += ["--max-body-mib", str(self.max_body_mib)]
        if self.witness:
            command.append("--witness")
        env = {**os.environ, "BROKER_LOG_FORMAT": "json"}
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self._process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        return self

    def wait_ready(self, deadline: float = 30.0) -> None:
        """Wait until `/healthz` answers; raise if the process exits or never listens."""
        assert self._process is not None, "not started"
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self._process.poll() is not None:
                message = f"broker receiver exited with {self._process.returncode}"
                raise AssertionError(message + ": " + self.stderr.read_text())
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError("broker receiver did not start listening")

    def stop(self) -> None:
        """Stop the process if it runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)

    def witness_key(self) -> str:
        """Return the cosignature key it printed as a witness (once it listens)."""
        for line in self.stdout.read_text().splitlines():
            if line.startswith("witness key: "):
                return line.removeprefix("witness key: ")
        raise AssertionError("the receiver printed no witness key")

    def releases(self) -> list[Path]:
        """Return the stored release files, by name."""
        return sorted((self.store / "releases").glob("*.json"))

    def current(self, policy_id: str) -> dict[str, dict[str, Any]] | None:
        """Return the receiver's current set for a policy, by key (None: it holds none)."""
        path = self.store / "current" / f"{policy_id}.json"
        if not path.exists():
            return None
        return {record["key"]: record for record in json.loads(path.read_bytes())["dwellings"]}

    def receipts(self) -> list[Path]:
        """Return the stored receipt files, by name."""
        return sorted((self.store / "receipts").glob("*.tlog-proof"))

    def __enter__(self) -> Self:
        """Start it and wait until it listens."""
        self.start().wait_ready()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop it."""
        self.stop()


@dataclass
class Exchange:
    """One request the proxy took in, what it did with it, and what it answered."""

    fault: Fault
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    status: int | None = None  # what the proxy answered the client; None: nothing
    upstream: int | None = None  # what the receiver answered; None: not passed on
    reply: bytes = b""  # the receiver's answer body
    settled: threading.Event = field(default_factory=threading.Event)  # upstream is final

    def header(self, name: str) -> str:
        """Return the value of header `name` (any case), or ""."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: Proxy


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self.server.proxy.handle(self, body)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Stay quiet."""


class Proxy:
    """A real HTTP proxy on 127.0.0.1 that misbehaves for its first requests, then forwards."""

    def __init__(
        self, upstream: int, faults: Sequence[Fault] = (), *, then: Fault = "forward"
    ) -> None:
        """Forward to 127.0.0.1:`upstream`; request n gets `faults[n]`, later ones `then`."""
        self.upstream = upstream
        self.faults = list(faults)
        self.then: Fault = then
        self.exchanges: list[Exchange] = []
        self.slow_seconds = 3.0
        self.retry_after: str | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._let_go = threading.Event()
        self._stop = threading.Event()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: the proxy stops within 50 ms of `__exit__`.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        """Start listening."""
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop listening and end any request still held or delayed."""
        self._stop.set()
        self._let_go.set()
        self._server.shutdown()
        self._server.server_close()

    def let_go(self) -> None:
        """Pass on the requests held so far (and stop holding new ones)."""
        self._let_go.set()

    def wait_for(self, count: int, deadline: float = 30.0) -> Exchange:
        """Wait until `count` requests have arrived; return the last of them."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.exchanges) >= count, deadline):
                raise AssertionError(f"the proxy saw {len(self.exchanges)} of {count} requests")
            return self.exchanges[count - 1]

    def statuses(self) -> list[int | None]:
        """Return what the receiver answered each request, in order (None: not passed on)."""
        for exchange in list(self.exchanges):
            exchange.settled.wait(30)
        with self._lock:
            return [exchange.upstream for exchange in self.exchanges]

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        """Do with one request what the plan says for it."""
        with self._arrived:
            number = len(self.exchanges)
            fault = self.faults[number] if number < len(self.faults) else self.then
            exchange = Exchange(
                fault, handler.command, handler.path, list(handler.headers.items()), body
            )
            self.exchanges.append(exchange)
            self._arrived.notify_all()
        try:
            self._act(handler, exchange)
        finally:
            exchange.settled.set()

    def _act(self, handler: BaseHTTPRequestHandler, exchange: Exchange) -> None:
        if isinstance(exchange.fault, int):
            answer = json.dumps({"error": "injected", "status": exchange.fault}).encode()
            self._answer(handler, exchange, exchange.fault, answer, self.retry_after)
        elif exchange.fault == "error":
            self._answer(handler, exchange, 500, b'{"error":"injected"}')
        elif exchange.fault == "hangup":
            handler.close_connection = True
        elif exchange.fault == "slow":
            self._forward(exchange, exchange.body)
            self._stop.wait(self.slow_seconds)  # far beyond the broker's timeout
            self._answer(handler, exchange, exchange.upstream or 502, exchange.reply)
        elif exchange.fault == "flip":
            flipped = bytearray(exchange.body)
            flipped[len(flipped) // 2] ^= 0x01
            self._forward(exchange, bytes(flipped))
            self._answer(handler, exchange, exchange.upstream or 502, exchange.reply)
        else:
            if exchange.fault == "hold":
                self._let_go.wait()
            self._forward(exchange, exchange.body)
            self._answer(handler, exchange, exchange.upstream or 502, exchange.reply)

    def _forward(self, exchange: Exchange, body: bytes) -> None:
        """Send the request on with its own headers (Host and Content-Length included)."""
        try:
            exchange.upstream, exchange.reply = post_exactly(
                self.upstream, exchange.method, exchange.path, exchange.headers, body
            )
        finally:
            exchange.settled.set()

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler,
        exchange: Exchange,
        status: int,
        answer: bytes,
        retry_after: str | None = None,
    ) -> None:
        exchange.status = status
        with contextlib.suppress(OSError):  # the client may have given up already
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(answer)))
            if retry_after is not None:
                handler.send_header("Retry-After", retry_after)
            handler.end_headers()
            handler.wfile.write(answer)


def iso_week(day: dt.date) -> str:
    """Return the ISO week a policy coarsens `day` to, e.g. 2027-W09."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Site:
    """One broker home and database, its public key file, and the recipient's webhook."""

    database: Database
    home: Path
    tmp: Path
    public_key: Path
    webhook: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """Return the broker's environment: policies, the recipient, fast retries."""
        recipients = [{"id": RECIPIENT, "webhook": self.webhook}] if self.webhook else []
        return {
            "BROKER_POLICIES_DIR": str(POLICIES),
            "BROKER_RECIPIENTS": json.dumps(recipients),
            "BROKER_DELIVERY_BACKOFF": "0.05",
            "BROKER_DELIVERY_ATTEMPTS": "8",
            "BROKER_DELIVERY_TIMEOUT": "5",
            **self.settings,
        }

    def broker(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `broker ARGS` as a real process against this site."""
        return run_broker(self.database, self.home, *args, env=self.env())

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `broker ARGS` as a real process and return it while it runs."""
        return subprocess.Popen(
            [sys.executable, "-m", "broker", *args],
            env=broker_env(self.database, self.home, self.env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def receiver(
        self,
        *,
        port: int | None = None,
        public_url: str = "",
        max_body_mib: int | None = None,
        witness: bool = False,
    ) -> ReceiverProcess:
        """Return a `broker receiver` that trusts this site's key (not started yet)."""
        store = self.tmp / "municipality"
        return ReceiverProcess(
            self.public_key,
            store,
            port=port,
            public_url=public_url,
            max_body_mib=max_body_mib,
            witness=witness,
        )

    @contextmanager
    def through_proxy(
        self, faults: Sequence[Fault] = (), *, then: Fault = "forward"
    ) -> Iterator[tuple[Proxy, ReceiverProcess]]:
        """Run a receiver behind a proxy with these faults; the webhook names the proxy."""
        port = free_port()
        proxy = Proxy(port, faults, then=then)
        # The broker signs the proxy's URI: the receiver checks against that one.
        with proxy, self.receiver(port=port, public_url=proxy.url) as receiver:
            self.webhook = f"{proxy.url}/releases"
            yield proxy, receiver

    def ingest(self, rows: Sequence[dict[str, str]]) -> None:
        """Store a schedule export, as `broker ingest` does, in this site's database."""
        path = write_csv(self.tmp / "export.csv", rows)
        with session_scope(make_session_factory(self.database.engine)) as session:
            ingest_file(session, path, org="bo-vest", now=dt.datetime.now(dt.UTC))

    def truth(self, policy: Policy, at: dt.date = TODAY) -> dict[str, dict[str, Any]]:
        """Return, by key, the records `policy` releases on `at` from the stored schedule."""
        ring = load_keys(Settings(home=self.home))
        with session_scope(make_session_factory(self.database.engine)) as session:
            plan = explain(session, policy, at=at)
        return {
            record["key"]: record
            for record in (
                _payload.record(
                    _payload.recipient_key(ring.reference_key, policy.recipient, dwelling.ref),
                    dwelling,
                )
                for dwelling in plan.dwellings
            )
        }

    def replay(self, receiver: ReceiverProcess, policy_id: str) -> dict[str, dict[str, Any]]:
        """Return the set the receiver's stored releases of a policy give, applied in log order."""
        order = {row.id: row.log_seq for row in self.outbox()}
        contents = [json.loads(path.read_bytes())["release"] for path in receiver.releases()]
        held: dict[str, dict[str, Any]] = {}
        for content in sorted(contents, key=lambda c: order[c["release_id"]]):
            if content["policy_id"] == policy_id:
                apply_release(held, content)
        return held

    def outbox(self) -> list[Release]:
        """Return the outbox rows as they stand now."""
        with session_scope(make_session_factory(self.database.engine)) as session:
            rows = list(session.scalars(select(Release)))
            session.expunge_all()
        return rows

    def body(self, row: Release) -> bytes:
        """Return a release's body as delivered (or as it would be delivered now)."""
        with session_scope(make_session_factory(self.database.engine)) as session:
            return release_body(session, Settings(home=self.home), row)

    def entries(self, event: str) -> list[dict[str, Any]]:
        """Return the disclosure-log entries of one event, as `broker audit list` shows them."""
        listed = self.broker("audit", "list", "--event", event, "--json")
        assert listed.returncode == 0, listed.stderr
        return [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]

    def assert_delivered_once(self, receiver: ReceiverProcess, release_id: str) -> Release:
        """The receiver holds the release once, as sent; one `delivery` entry; the log verifies."""
        assert [path.name for path in receiver.releases()] == [f"{release_id}.json"]
        assert [path.name for path in receiver.receipts()] == [f"{release_id}.tlog-proof"]
        (row,) = self.outbox()
        assert (row.id, row.status, row.last_error) == (release_id, "delivered", None)
        assert receiver.releases()[0].read_bytes() == self.body(row)
        assert receiver.receipts()[0].read_text() == row.receipt  # the receipt as delivered
        deliveries = self.entries("delivery")
        assert [entry["release_id"] for entry in deliveries] == [release_id]
        self.assert_log_verifies()
        return row

    def assert_log_verifies(self) -> None:
        """`broker audit verify` passes."""
        verified = self.broker("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("verified: size "), verified.stdout


def released_id(output: str) -> str:
    """Return the release id `broker push` reports."""
    found = re.search(r"^released (rel-[0-9a-f]{24}): ", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1)
