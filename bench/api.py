"""Benchmark: the visitator's and the auditor's list routes under load, against a bare route.

What is measured. The real ``broker serve`` runs in a process of its own on
127.0.0.1, with the background runner off (``BROKER_SCHEDULER=false``) and the
per-token rate at the highest the settings accept, so that neither takes part.
This process loads it with ``--clients`` concurrent callers (default 50), each
an ``httpx.AsyncClient`` with one keep-alive connection that sends its next
request as soon as the previous one is answered, for a window of ``--seconds``
per route (default 5). Before the window, 50 requests are sent one at a time to
warm the route up. Figures per route:

* requests/s: ``200`` answers that arrived within the window, per second;
* p50 and p99: latency of the ``200`` answers to the requests sent within the
  window, taken around ``client.get`` (so it includes this process's share).
  Those still open when the window closes are awaited, however late: a route
  that meets a server-side timeout shows it, and takes that much longer to run;
* any other answer, or a transport error, to a request sent within the window
  is counted and printed apart, with the distinct exceptions the server wrote
  to its output meanwhile.

1. The baseline, in the same run: a bare FastAPI app with one route returning a
   small JSON list, served by uvicorn as ``broker serve`` serves the broker
   (``uvicorn.run``, one process, ``access_log=False``). Its route is a plain
   ``def``, like the broker's, so it too runs in the thread pool.
2. The broker, on a migrated SQLite file and, with ``--postgres URL``, in a
   throw-away PostgreSQL schema that is dropped afterwards. Seeded through the
   command line as an operator would: ``broker db upgrade``, the demo
   department (``broker demo-data``, ``broker ingest --org bo-vest``),
   ``broker keys init``, ``--releases`` runs (default 3) of
   ``broker push albertslund-visitation-weekly`` to a directory recipient, and
   a visitator token (albertslund) and an auditor token (bo-vest). Routes:

   * the visitator's release list, ``GET /v1/releases``. Where that route is
     not served (404), the visitator's ``GET /v1/log/checkpoint`` is measured
     in its place and the output says so;
   * for comparison, the auditor's ``GET /v1/log/checkpoint``: an
     authenticated read of one row that records nothing (left out when it
     already stands in for the release list);
   * the auditor's entry list, ``GET /v1/log/entries?limit=100``. Every such
     read is itself recorded in the disclosure log (an ``audit-read`` entry
     sequenced in the request's transaction; the server's publisher signs the
     checkpoints over them once a second), so the log
     grows by one entry per answered request, which the benchmark checks.
     Instead of the warm-up the list is read one request at a time until its
     first page is full (100 entries), so every measured answer is a full page.

Ratios. Each is the broker's cost over the baseline's: for requests/s the
baseline's rate over the route's, for p50 and p99 the route's latency over the
baseline's. With a fixed number of callers each waiting for its answer, latency
is mostly queueing (p50 is close to callers / rate), so the p50 ratio follows
the rate ratio and p99 shows how unevenly the wait is shared. On a 2-core
machine this process and the server share the cores: the client's CPU use is
printed, and when it nears one core, the baseline's rate is partly the
client's limit and the ratios understate the broker's cost.

This is a measurement, not a test: nothing fails on a slow figure. Run
``make bench`` or
``.venv/bin/python bench/api.py [--seconds S] [--clients N] [--releases N] [--postgres URL]``.
Figures go to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn  # noqa: TID251 - the baseline is a bare uvicorn server, as `broker serve` runs it
from _common import note
from fastapi import FastAPI  # noqa: TID251 - the baseline is a bare FastAPI route
from sqlalchemy import create_engine, make_url, text

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
POLICY = "albertslund-visitation-weekly"
RECIPIENT = "albertslund/visitation"
MUNICIPALITY = "albertslund"
HOUSING_ORG = "bo-vest"
DEFAULT_SECONDS = 5.0
DEFAULT_CLIENTS = 50
DEFAULT_RELEASES = 3
WARMUP_REQUESTS = 50
ENTRIES_PAGE = 100
# The highest per-token rate the settings accept; at it, 50 clients are never refused.
RATE_PER_MINUTE = 100_000
REQUEST_TIMEOUT = 60.0
START_TIMEOUT = 30.0
BARE_PATH = "/bare"
BARE_ITEMS: list[dict[str, str | int]] = [{"id": f"item-{n}", "n": n} for n in range(5)]
RELEASES_PATH = "/v1/releases"
CHECKPOINT_PATH = "/v1/log/checkpoint"
ENTRIES_PATH = f"/v1/log/entries?limit={ENTRIES_PAGE}"
# The last line of a traceback in the server's output, e.g. "sqlite3.OperationalError: ...".
EXCEPTION_LINE = re.compile(r"^[ |]*((?:\w+\.)*\w*(?:Error|Exception): .+)$", re.MULTILINE)
ERROR_WIDTH = 110
ERRORS_SHOWN = 4


@dataclass(frozen=True, slots=True)
class Figures:
    """One route's measured run: the answers in the window, latencies and failures."""

    seconds: float
    """The window in which requests were sent."""
    answered: int
    """``200`` answers that arrived within the window."""
    latencies: tuple[float, ...]
    """Seconds per ``200`` answer to a request sent in the window (however late), ascending."""
    failures: Mapping[str, int]
    """Other answers to requests sent in the window, by status; transport errors by name."""
    client_cpu: float
    """CPU seconds this process spent during the window."""

    @property
    def rate(self) -> float:
        """``200`` answers per second within the window."""
        return self.answered / self.seconds

    def percentile(self, share: float) -> float:
        """Return the latency (seconds) that ``share`` of the answers did not exceed."""
        if not self.latencies:
            return math.nan
        rank = max(1, math.ceil(share * len(self.latencies)))
        return self.latencies[rank - 1]


@dataclass(frozen=True, slots=True)
class Route:
    """One measured route: what to print, what to GET and with which token."""

    label: str
    path: str
    token: str | None = None

    def headers(self) -> dict[str, str]:
        """Return the request headers: the bearer token, if any."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


async def _load(url: str, route: Route, seconds: float, clients: int) -> Figures:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    in_window = 0

    async def one_client(client: httpx.AsyncClient, end: float) -> None:
        nonlocal in_window
        # Send until the window closes; wait for the last answer, however late.
        while time.perf_counter() < end:
            start = time.perf_counter()
            try:
                response = await client.get(route.path)
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
                continue
            done = time.perf_counter()
            if response.status_code != httpx.codes.OK:
                failures[str(response.status_code)] += 1
                continue
            latencies.append(done - start)
            in_window += done <= end

    async def close_window() -> float:
        await asyncio.sleep(seconds)
        return time.process_time()

    # One client per caller, each with one keep-alive connection: one client with a pool
    # of 50 scans its pool on every request and spent several times the CPU per request
    # here, which made this process the bottleneck. One TLS context (unused: plain HTTP)
    # for all, because making one per client costs tens of milliseconds each.
    unused_tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url,
                    headers=route.headers(),
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    timeout=REQUEST_TIMEOUT,
                    verify=unused_tls,
                )
            )
            for _ in range(clients)
        ]
        cpu = time.process_time()
        end = time.perf_counter() + seconds
        async with asyncio.TaskGroup() as group:
            closed = group.create_task(close_window())
            for client in pool:
                group.create_task(one_client(client, end))
    return Figures(seconds, in_window, tuple(sorted(latencies)), failures, closed.result() - cpu)


def warm_up(url: str, route: Route, requests: int = WARMUP_REQUESTS) -> None:
    """Send ``requests`` requests one at a time; stop the benchmark on any answer but 200."""
    with httpx.Client(base_url=url, headers=route.headers(), timeout=REQUEST_TIMEOUT) as client:
        for _ in range(requests):
            response = client.get(route.path)
            if response.status_code != httpx.codes.OK:
                raise SystemExit(
                    f"GET {route.path} answered {response.status_code}: {response.text}"
                )


def load(url: str, route: Route, seconds: float, clients: int) -> Figures:
    """Load ``route`` with ``clients`` concurrent clients for ``seconds``; return the figures."""
    note(f"{route.path}: {clients} clients for {seconds:g} s")
    return asyncio.run(_load(url, route, seconds, clients))


def bare_app() -> FastAPI:
    """Return the baseline: one route answering a small JSON list, nothing else."""
    app = FastAPI()

    @app.get(BARE_PATH)
    def bare() -> list[dict[str, str | int]]:
        return BARE_ITEMS

    return app


def serve_bare(port: int) -> None:
    """Serve the baseline on 127.0.0.1:``port`` as ``broker serve`` serves the broker."""
    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Server:
    """A server this benchmark started: its URL and the file its output goes to."""

    url: str
    output: Path

    def mark(self) -> int:
        """Return the size of the output so far, to read what is written after it."""
        return self.output.stat().st_size

    def errors_since(self, mark: int) -> list[str]:
        """Return the distinct exceptions the server reported after ``mark`` (last lines)."""
        with self.output.open("rb") as raw:
            raw.seek(mark)
            written = raw.read().decode("utf-8", errors="replace")
        found = (m.group(1)[:ERROR_WIDTH] for m in EXCEPTION_LINE.finditer(written))
        return sorted(set(found))

    def tail(self, lines: int = 20) -> str:
        """Return the last ``lines`` lines of the output."""
        text = self.output.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def serving(  # noqa: PLR0913 - the server, then where it runs
    name: str, command: Sequence[str], port: int, ready: str, *, env: Mapping[str, str], cwd: Path
) -> Iterator[Server]:
    """Start ``command`` listening on ``port``; yield it once ``ready`` answers 200; stop it."""
    server = Server(f"http://127.0.0.1:{port}", cwd / f"{name}.log")
    with server.output.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own server, our own arguments
            command, env=dict(env), cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            end = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    sink.flush()
                    raise SystemExit(f"{name} exited with {process.returncode}:\n{server.tail()}")
                try:
                    if httpx.get(server.url + ready, timeout=2).status_code == httpx.codes.OK:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > end:
                    raise SystemExit(f"{name} was not ready in {START_TIMEOUT:g} s")
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def broker_env(home: Path, database_url: str, outbox: Path) -> dict[str, str]:
    """Return the environment for the broker's commands: this run's settings, no others."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    return {
        **inherited,
        "BROKER_HOME": str(home),
        "BROKER_DATABASE_URL": database_url,
        "BROKER_POLICIES_DIR": str(POLICIES),
        "BROKER_SCHEDULER": "false",
        "BROKER_API_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
        "BROKER_RECIPIENTS": json.dumps([{"id": RECIPIENT, "directory": str(outbox)}]),
        "BROKER_LOG_FORMAT": "json",
    }


def broker(env: Mapping[str, str], cwd: Path, *args: str) -> str:
    """Run one ``broker`` command; return its stdout, or stop the benchmark if it fails."""
    done = subprocess.run(  # noqa: S603 - our own command line, our own arguments
        [sys.executable, "-m", "broker", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"broker {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Tokens:
    """The bearer secrets of the two callers."""

    visitator: str
    auditor: str


def seed(env: Mapping[str, str], cwd: Path, releases: int) -> Tokens:
    """Migrate, load the demo department, make keys, push ``releases`` times, make tokens."""
    broker(env, cwd, "db", "upgrade")
    broker(env, cwd, "demo-data", "--out", str(cwd / "demo-export.csv"))
    broker(env, cwd, "ingest", str(cwd / "demo-export.csv"), "--org", HOUSING_ORG)
    broker(env, cwd, "keys", "init")
    for n in range(releases):
        note(f"broker push {POLICY} ({n + 1} of {releases})")
        broker(env, cwd, "push", POLICY)
    # The secret is the second line; the first names the token.
    visitator = broker(env, cwd, "token", "create", "--role", "visitator", "--org", MUNICIPALITY)
    auditor = broker(env, cwd, "token", "create", "--role", "auditor", "--org", HOUSING_ORG)
    return Tokens(visitator.splitlines()[1].strip(), auditor.splitlines()[1].strip())


def log_size(database_url: str) -> int:
    """Return the number of entries in the disclosure log."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM log_entries")).scalar_one())
    finally:
        engine.dispose()


def fill_first_page(url: str, route: Route) -> int:
    """Read the entry list until its first page is full; return the reads (each recorded)."""
    with httpx.Client(base_url=url, headers=route.headers(), timeout=REQUEST_TIMEOUT) as client:
        for reads in range(1, ENTRIES_PAGE + 2):
            response = client.get(route.path)
            response.raise_for_status()
            if response.json()["next_after"] is not None:
                return reads
    raise SystemExit(f"the entry list's first page was not full after {reads} reads")


def visitator_route(url: str, token: str) -> tuple[Route, bool]:
    """Return the release list if the broker serves it, else its stand-in, and which it is."""
    listing = Route(f"visitator GET {RELEASES_PATH}", RELEASES_PATH, token)
    response = httpx.get(url + RELEASES_PATH, headers=listing.headers(), timeout=REQUEST_TIMEOUT)
    if response.status_code == httpx.codes.OK:
        count = len(response.json()["releases"])
        return Route(f"{listing.label} ({count} releases)", RELEASES_PATH, token), True
    if response.status_code != httpx.codes.NOT_FOUND:
        raise SystemExit(f"GET {RELEASES_PATH} answered {response.status_code}: {response.text}")
    label = (
        f"visitator GET {CHECKPOINT_PATH} -- STAND-IN: {RELEASES_PATH} is not served yet"
        " (404), so this is measured in its place"
    )
    return Route(label, CHECKPOINT_PATH, token), False


def ms(seconds: float) -> str:
    """Return seconds as milliseconds for printing."""
    return "-" if math.isnan(seconds) else f"{1000 * seconds:,.1f} ms"


def ratio(value: float, baseline: float) -> str:
    """Return `` (Nx)`` for printing, or nothing when either figure is missing."""
    if not value or not baseline or math.isnan(value) or math.isnan(baseline):
        return ""
    return f" ({value / baseline:.1f}x)"


@dataclass(frozen=True, slots=True)
class Measured:
    """One route's figures and what the server reported meanwhile."""

    route: Route
    figures: Figures
    errors: list[str]
    """The distinct exceptions in the server's output meanwhile (a chain shows each link)."""


def show(measured: Measured, baseline: Figures | None) -> None:
    """Print one route's figures and, unless it is the baseline, its ratios."""
    figures = measured.figures
    p50, p99 = figures.percentile(0.50), figures.percentile(0.99)
    if baseline is None:
        ratios = ("", "", "")
    else:
        ratios = (
            ratio(1 / figures.rate if figures.rate else math.nan, 1 / baseline.rate),
            ratio(p50, baseline.percentile(0.50)),
            ratio(p99, baseline.percentile(0.99)),
        )
    cpu = figures.client_cpu / figures.seconds
    print(f"  {measured.route.label}", flush=True)
    print(
        f"    {figures.rate:,.0f} requests/s{ratios[0]}   p50 {ms(p50)}{ratios[1]}"
        f"   p99 {ms(p99)}{ratios[2]}   [{figures.answered:,} answered within"
        f" {figures.seconds:g} s; client CPU {cpu:.0%} of a core]",
        flush=True,
    )
    if figures.failures:
        failed = ", ".join(f"{k}: {v:,}" for k, v in sorted(figures.failures.items()))
        print(f"    NOT ANSWERED 200: {failed}", flush=True)
    for line in measured.errors[:ERRORS_SHOWN]:
        print(f"    server reported: {line}", flush=True)


def measure_route(server: Server, route: Route, args: argparse.Namespace) -> Measured:
    """Load ``route`` on ``server``; return the figures and the server's errors meanwhile."""
    mark = server.mark()
    figures = load(server.url, route, args.seconds, args.clients)
    return Measured(route, figures, server.errors_since(mark))


def measure_baseline(cwd: Path, args: argparse.Namespace) -> Figures:
    """Serve the bare route in a process of its own and load it; print and return the figures."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    label = f"bare FastAPI route GET {BARE_PATH} ({len(BARE_ITEMS)}-item JSON list), uvicorn"
    note("baseline: starting the bare FastAPI app under uvicorn")
    with serving("bare", command, port, BARE_PATH, env=os.environ, cwd=cwd) as server:
        route = Route(label, BARE_PATH)
        warm_up(server.url, route)
        measured = measure_route(server, route, args)
    print("baseline:", flush=True)
    show(measured, None)
    return measured.figures


def measure_broker(
    database: str, database_url: str, cwd: Path, args: argparse.Namespace, baseline: Figures
) -> None:
    """Seed a broker on ``database_url``, serve it, load each route; print the figures."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = broker_env(cwd / "home", database_url, cwd / "outbox")
    note(f"{database}: seeding through the command line")
    tokens = seed(env, cwd, args.releases)
    port = free_port()
    command = [sys.executable, "-m", "broker", "serve", "--port", str(port)]
    note(f"{database}: starting broker serve")
    results: list[Measured] = []
    with serving("broker", command, port, "/readyz", env=env, cwd=cwd) as server:
        visitator, served = visitator_route(server.url, tokens.visitator)
        warm_up(server.url, visitator)
        results.append(measure_route(server, visitator, args))
        if served:
            label = f"auditor GET {CHECKPOINT_PATH} (authenticated, records nothing; to compare)"
            plain = Route(label, CHECKPOINT_PATH, tokens.auditor)
            warm_up(server.url, plain)
            results.append(measure_route(server, plain, args))
        label = f"auditor GET {ENTRIES_PATH} (each read is recorded in the log)"
        listing = Route(label, ENTRIES_PATH, tokens.auditor)
        before = log_size(database_url)
        # Filling the first page warms the route up too.
        filled = fill_first_page(server.url, listing)
        results.append(measure_route(server, listing, args))
        after = log_size(database_url)

    print(f"{database}:", flush=True)
    for measured in results:
        show(measured, baseline)
    recorded = filled + len(results[-1].figures.latencies)
    verdict = "one entry per read" if after - before == recorded else "MISMATCH"
    print(
        f"  disclosure log: {before:,} -> {after:,} entries while the entry list was read"
        f" {recorded:,} times with answer 200 ({verdict})",
        flush=True,
    )
    # The checkpoint read is the last but one: the auditor's, or the visitator's stand-in.
    recording, reading = results[-1].figures, results[-2].figures
    if all(f.answered and not f.failures for f in (recording, reading)):
        print(
            "  server time per request at saturation (1 / rate): entry list"
            f" {ms(1 / recording.rate)}, checkpoint read {ms(1 / reading.rate)},"
            f" bare route {ms(1 / baseline.rate)}",
            flush=True,
        )


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """Yield the URL of a fresh, empty schema in the database at ``url``; drop it after."""
    admin = create_engine(url)
    schema = "bench_" + secrets.token_hex(6)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"measured seconds per route (default {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=DEFAULT_CLIENTS,
        help=f"concurrent clients (default {DEFAULT_CLIENTS})",
    )
    parser.add_argument(
        "--releases",
        type=int,
        default=DEFAULT_RELEASES,
        help=f"`broker push` runs before serving (default {DEFAULT_RELEASES})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on this PostgreSQL database (in a throw-away schema)",
    )
    # Internal: the baseline server, started by this script in a process of its own.
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    if args.releases < 1:
        parser.error("--releases must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure the baseline, then the broker on SQLite and, if asked, PostgreSQL; print it."""
    args = parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    print(
        f"API on 127.0.0.1: {args.clients} concurrent clients, {args.seconds:g} s per route"
        f" after {WARMUP_REQUESTS} requests one by one, {os.cpu_count()} cores. Ratios are the"
        " route's cost over the baseline's: the baseline's requests/s over the route's, the"
        " route's latency over the baseline's",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-api-") as name:
        root = Path(name)
        baseline = measure_baseline(root, args)
        sqlite = root / "sqlite"
        measure_broker("SQLite", f"sqlite:///{sqlite / 'broker.db'}", sqlite, args, baseline)
        if args.postgres:
            with postgres_schema(args.postgres) as url:
                measure_broker("PostgreSQL", url, root / "postgresql", args, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
