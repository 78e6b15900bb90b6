"""Benchmark: one snapshot release committed and delivered, against a bare unsigned POST.

What is measured. For each size given (default 3,000 dwellings, a municipality;
``--dwellings 3000 600000`` adds the national size) a freshly migrated database
is filled with a schedule by direct inserts (untimed): departments of 300
dwellings, each dwelling with the eight phases of ``bench/ingest.py``'s export.
The policy is a copy of ``policies/albertslund-visitation-weekly.yaml`` whose
scope names every generated department and whose window covers every generated
phase, so the release covers every dwelling (five of its eight phases are of a
scope kind). Then, in the same run:

1. Commit: ``broker.release.release`` in one committed transaction, as
   ``broker push`` runs it: evaluate the policy on the stored schedule, sequence
   the ``release`` entry in the disclosure log, write the outbox row and what the
   recipient now holds. Then, timed apart, publishing as ``broker push`` does before
   it exits: integrate the entry and sign one checkpoint (a release is delivered
   only once one covers it).
2. Deliver: ``broker.delivery.service.deliver_due`` to the reference receiver
   (``broker.receiver``, in a process of its own so the two do not share the
   GIL): read the outbox row, cut the receipt (no witness is configured), build
   the JSON body, sign (RFC 9421, RFC 9530), POST, the receiver's
   checks of digest, signature, receipt and commitment and its storage, then the
   ``delivery`` entry in the log.
3. The baseline: the same payload bytes POSTed unsigned with the same kind of
   ``httpx.Client`` to a bare standard-library HTTP server on 127.0.0.1 (in a
   process of its own) that reads the body and answers 200; best of three.

Every figure is printed with its rate and its ratio to the baseline, and with
where its time went, measured inside the same run by timing wrappers placed
(with ``unittest.mock.patch.object``) around the functions the broker calls:
loading the schedule, evaluating, the per-record digests and the canonical bytes
(RFC 8785), the log append, the receipt, the JSON body, signing, the POST round
trip and the outcome entry; what is left is given by difference. The receiver's
share is then measured once more in this process (``Receiver.accept`` on the
captured request, its clock set to the signing time), so it can be split too.
A release of more than ``--part-dwellings`` dwellings (default: the default of
``BROKER_RELEASE_PART_DWELLINGS``, 10,000) is sent in parts, one request each, as
the broker sends it; the round trips are summed, the requests counted and the
largest printed, and the receiver's share measured again in this process is that
of the last part. The baseline stays one POST of the whole body. Peak resident
memory is printed per step, for this process and for the receiver's.

``--postgres URL`` repeats everything on PostgreSQL, each size in a throw-away
schema that is dropped afterwards. This is a measurement, not a test: nothing
fails on a slow figure. A delivery the receiver refuses is reported as such.

Run ``make bench`` or
``.venv/bin/python bench/push.py [--dwellings N [N ...]] [--postgres URL]``.
Figures go to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection as Channel
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import httpx
from _common import DOORS, FLOORS, PHASES, note, postgres_schemas, sqlite_files, timed
from sqlalchemy import Connection, Engine, insert, text

import broker.delivery.service as delivery_service
import broker.policy.service as policy_service
import broker.receiver.service as receiver_service
import broker.release.service as release_service
from audit import _storage as log_storage
from audit import public_keys_from_pem, verify_receipt
from broker.config import RecipientSettings, Settings
from broker.db import Base, make_session_factory
from broker.delivery.service import deliver_due
from broker.disclosure import witnessing
from broker.disclosure.publishing import integrate_pending
from broker.keys import KeyRing, init_keys, load_keys
from broker.logging import configure_logging
from broker.policy import MIN_DWELLINGS, Policy, load_policy_file
from broker.receiver import MAX_BODY as RECEIVER_MAX_BODY
from broker.receiver import Receiver, make_receiver_server
from broker.release import Outcome, _payload, release, release_body

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
ORG = "bo-vest"  # the shipped policy's discloser
DEFAULT_DWELLINGS = (3_000,)
NATIONAL = 600_000
DWELLINGS_PER_DEPARTMENT = 300
DEPARTMENTS_PER_INSERT = 20
BASELINE_RUNS = 3
HOST = "127.0.0.1"
HTTP_TIMEOUT = 900.0
PEER_START_TIMEOUT = 60.0
MB = 1e6
# The run the release is made for; the generated phases lie around it.
RUN_AT = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)
# The copied policy's window: the widest a policy may have.
WINDOW = {"days_before": 366, "days_after": 731}
# Postcode, postal district and municipality code of real places with social housing.
PLACES = (
    ("2620", "Albertslund", "0165"),
    ("2600", "Glostrup", "0161"),
    ("2650", "Hvidovre", "0167"),
    ("2635", "Ishøj", "0183"),
    ("2605", "Brøndby", "0153"),
    ("2630", "Taastrup", "0169"),
    ("4000", "Roskilde", "0265"),
    ("5220", "Odense SØ", "0461"),
    ("8210", "Aarhus V", "0751"),
    ("9220", "Aalborg Øst", "0851"),
)
STREET_STEMS = ("Birke", "Ege", "Hassel", "Pile", "Elme", "Lærke", "Bøge", "Ahorn", "Kastanje")
STREET_ENDINGS = ("vej", "parken", "haven", "gården", "stien", "toften", "vænget", "bakken")
ADDRESS_NAMESPACE = uuid.UUID("5f0c6e2a-3b1d-4c8e-9a7f-2d4b6c8e0a1f")


def now() -> dt.datetime:
    """The wall clock, as the broker's edges pass it (signatures are checked against it)."""
    return dt.datetime.now(dt.UTC)


# --- memory -----------------------------------------------------------------------------------


def _status_kb(name: str) -> float | None:
    """Return a ``/proc/self/status`` figure in kB (Linux), or None where there is none."""
    try:
        lines = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{name}:"):
            return float(line.split()[1])
    return None


def reset_peak() -> None:
    """Start a new peak of resident memory (Linux ``clear_refs``; elsewhere a no-op)."""
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")


def resident_mb() -> float:
    """Return this process's resident memory now, in MB."""
    kb = _status_kb("VmRSS")
    return 0.0 if kb is None else kb * 1e3 / MB


def peak_mb() -> float:
    """Return this process's peak resident memory since ``reset_peak``, in MB."""
    kb = _status_kb("VmHWM")
    if kb is None:  # no /proc: the peak since the process started
        kb = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return kb * 1e3 / MB


# --- the peers: the reference receiver and the bare baseline server, each in a process ---------


class _BareHandler(BaseHTTPRequestHandler):
    """Reads the body and answers 200: the least any receiver does."""

    def do_POST(self) -> None:
        """Read the whole body, then answer 200 with a tiny JSON body."""
        self.rfile.read(int(self.headers.get("content-length") or 0))
        answer = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Stay quiet."""


class _BareServer(ThreadingHTTPServer):
    daemon_threads = True


def serve(kind: str, store: str, public_pem: bytes, max_body: int, channel: Channel) -> None:
    """In a child process: serve ``kind`` on a free port until told to stop; report the peak.

    ``kind`` is ``receiver`` (``broker.receiver``, storing under ``store``, trusting
    the keys in ``public_pem``, reading bodies up to ``max_body`` bytes) or ``bare``.
    """
    server: ThreadingHTTPServer
    if kind == "receiver":
        receiver = Receiver(Path(store), public_keys_from_pem(public_pem))
        server = make_receiver_server(receiver, HOST, 0, max_body=max_body)
    else:
        server = _BareServer((HOST, 0), _BareHandler)
    channel.send(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    channel.recv()
    server.shutdown()
    server.server_close()
    channel.send(peak_mb())


@dataclass(slots=True)
class Peer:
    """A server in a child process: where it listens and, once stopped, its peak memory."""

    url: str
    peak_mb: float | None = None


@contextmanager
def peer(
    kind: str, store: Path, public_pem: bytes, max_body: int = RECEIVER_MAX_BODY
) -> Iterator[Peer]:
    """Start ``serve(kind, ...)`` in a fresh (spawned) process; stop it on leaving."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve, args=(kind, str(store), public_pem, max_body, theirs), daemon=True
    )
    process.start()
    if not ours.poll(PEER_START_TIMEOUT):
        process.terminate()
        raise SystemExit(f"the {kind} server did not start")
    running = Peer(f"http://{HOST}:{ours.recv()}")
    try:
        yield running
    finally:
        with contextlib.suppress(OSError, EOFError):
            ours.send("stop")
            if ours.poll(PEER_START_TIMEOUT):
                running.peak_mb = float(ours.recv())
        process.join(PEER_START_TIMEOUT)
        if process.is_alive():
            process.terminate()
            process.join()


# --- the schedule and the policy ---------------------------------------------------------------


def department_code(department: int) -> str:
    """Return the code of generated department number ``department``."""
    return f"afd-{department:04d}"


def schedule_rows(
    department: int, dwellings: int, first_id: int, moment: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the dwelling rows and phase rows of one department (ids from ``first_id``)."""
    street = STREET_STEMS[department % len(STREET_STEMS)]
    street += STREET_ENDINGS[(department // len(STREET_STEMS)) % len(STREET_ENDINGS)]
    postnr, postnrnavn, kommunekode = PLACES[department % len(PLACES)]
    # First notices from 40 weeks before the run to 29 weeks after it: every phase
    # lies inside the copied policy's window.
    first_notice = RUN_AT.date() + dt.timedelta(days=7 * (department % 52) - 280)
    per_house = len(FLOORS) * len(DOORS)
    dwelling_rows: list[dict[str, Any]] = []
    phase_rows: list[dict[str, Any]] = []
    for number in range(dwellings):
        dwelling_id = first_id + number
        house, unit = divmod(number, per_house)
        floor, door = divmod(unit, len(DOORS))
        adresseid = uuid.uuid5(ADDRESS_NAMESPACE, f"{department}/{number}")
        dwelling_rows.append(
            {
                "id": dwelling_id,
                "ref": f"dw-{dwelling_id:012x}",
                "department_id": department + 1,
                "lejemaalsnr": f"{department + 100:04d}-{house + 1:04d}-{unit + 1:03d}",
                "adresseid": str(adresseid) if number % 2 == 0 else None,
                "vejnavn": street,
                "husnr": str(2 * house + 1),
                "etage": FLOORS[floor],
                "doer": DOORS[door],
                "postnr": postnr,
                "postnrnavn": postnrnavn,
                "kommunekode": kommunekode,
                "disposition": "renoveres",
                "affected": True,
                "withdrawn_at": None,
                "updated_at": moment,
            }
        )
        notice = first_notice + dt.timedelta(days=14 * house)
        phase_rows.extend(
            {
                "dwelling_id": dwelling_id,
                "kind": kind,
                "start": notice + dt.timedelta(days=first),
                "end": notice + dt.timedelta(days=last),
            }
            for kind, first, last in PHASES
        )
    return dwelling_rows, phase_rows


def insert_rows(connection: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``: with COPY on PostgreSQL, else one executemany."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(Base.metadata.tables[table]), rows)
        return
    columns = list(rows[0])
    names = ", ".join(f'"{column}"' for column in columns)
    driver = connection.connection.driver_connection
    assert driver is not None  # noqa: S101 - an open connection has its driver's
    cursor = driver.cursor()
    with cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def store_schedule(engine: Engine, org: str, dwellings: int) -> int:
    """Insert ``dwellings`` dwellings with all their phases in one transaction; return departments.

    Direct inserts, without parsing or validating an export: the release is what
    is measured. On PostgreSQL the tables are then analysed, as autovacuum does
    after a load in production (a planner without statistics loads the phases by
    scanning the whole table for each batch of dwellings).
    """
    departments = -(-dwellings // DWELLINGS_PER_DEPARTMENT)
    moment = now()
    with engine.begin() as connection:
        insert_rows(
            connection,
            "departments",
            [
                {
                    "id": d + 1,
                    "org": org,
                    "code": department_code(d),
                    "created_at": moment,
                    "updated_at": moment,
                }
                for d in range(departments)
            ],
        )
        for low in range(0, departments, DEPARTMENTS_PER_INSERT):
            dwelling_rows: list[dict[str, Any]] = []
            phase_rows: list[dict[str, Any]] = []
            for department in range(low, min(low + DEPARTMENTS_PER_INSERT, departments)):
                first = department * DWELLINGS_PER_DEPARTMENT
                count = min(DWELLINGS_PER_DEPARTMENT, dwellings - first)
                rows, phases = schedule_rows(department, count, first + 1, moment)
                dwelling_rows += rows
                phase_rows += phases
            insert_rows(connection, "dwellings", dwelling_rows)
            insert_rows(connection, "phases", phase_rows)
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE departments, dwellings, phases"))
    return departments


def bench_policy(departments: int) -> Policy:
    """A copy of the shipped weekly policy whose scope and window cover the whole schedule."""
    path = ROOT / "policies" / "albertslund-visitation-weekly.yaml"
    loaded, problems = load_policy_file(path)
    if loaded is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    if loaded.policy.discloser != ORG:
        raise SystemExit(f"{path.name}: the discloser is no longer {ORG}; update bench/push.py")
    document = loaded.policy.model_dump(mode="json", exclude_none=True)
    document["id"] = "bench-push-snapshot"
    document["mode"] = "snapshot"
    document["min_dwellings"] = MIN_DWELLINGS
    document["scope"]["departments"] = [department_code(d) for d in range(departments)]
    document["scope"]["window"] = WINDOW
    return Policy.model_validate(document)


# --- databases ---------------------------------------------------------------------------------


# --- the measurements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """A step of the broker's, timed inside a measured run by wrapping the function it calls.

    ``owner.name`` is where the broker looks the function up at call time. A
    ``nested`` part runs inside the part before it and is not added to the sum.
    """

    label: str
    owner: object
    name: str
    nested: bool = False


COMMIT_PARTS = (
    Part("load the schedule as facts (plain rows)", policy_service, "load_dwelling_facts"),
    Part("evaluate the policy (pure)", policy_service, "evaluate"),
    Part("per-record digests (RFC 8785 + SHA-256)", _payload, "digest"),
    Part("canonical bytes of the content (RFC 8785)", _payload, "canonical"),
    Part("log entry sequenced: entry, content, index", release_service, "record"),
    Part("of which the entry's canonical bytes", log_storage, "canonical_entry", nested=True),
)
DELIVERY_PARTS = (
    Part("the entry's receipt, cut at delivery", witnessing, "receipt"),
    Part("the JSON body around the content's bytes", _payload, "body"),
    Part("Content-Digest of the body (SHA-256)", delivery_service, "content_digest"),
    Part("signature (RFC 9421, Ed25519)", delivery_service, "sign_request"),
    Part("the outcome: delivery entry (sequenced)", delivery_service, "_record_outcome"),
)
RECEIVER_PARTS = (
    Part("Content-Digest check (SHA-256)", receiver_service, "check_content_digest"),
    Part("signature check", receiver_service, "verify_request"),
    Part("receipt check", receiver_service, "verify_receipt"),
    Part("canonical bytes of the content (RFC 8785)", receiver_service, "canonical_json"),
    Part("storage of the release and its receipt", receiver_service, "write_atomic"),
)


class Stopwatch:
    """Adds up the time spent in the functions of ``parts`` while ``watching``."""

    def __init__(self, parts: Sequence[Part]) -> None:
        """Start every part at zero."""
        self.parts = tuple(parts)
        self.seconds = dict.fromkeys((part.label for part in parts), 0.0)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Wrap each part's function where the broker looks it up; unwrap on leaving."""
        with contextlib.ExitStack() as stack:
            for part in self.parts:
                wrapper = self._wrap(part.label, getattr(part.owner, part.name))
                stack.enter_context(mock.patch.object(part.owner, part.name, wrapper))
            yield

    def _wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        seconds = self.seconds

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - start

        return wrapper

    def lines(self) -> list[tuple[str, float, bool]]:
        """Return (label, seconds, nested) of every part, in order."""
        return [(part.label, self.seconds[part.label], part.nested) for part in self.parts]

    def total(self) -> float:
        """Return the seconds of the parts that do not nest in another."""
        return sum(self.seconds[part.label] for part in self.parts if not part.nested)


@dataclass(slots=True)
class Wire:
    """The delivery's POST as the client saw it: the request, and when it went and came back."""

    request: httpx.Request | None = None
    signed_at: float = 0.0
    sent: float = 0.0
    answered: float | None = None
    status: int | None = None
    requests: int = 0
    waited: float = 0.0
    largest: int = 0

    def on_request(self, request: httpx.Request) -> None:
        """Keep the request (signed, with its body) and the time it is sent."""
        self.request = request
        self.signed_at = time.time()
        self.sent = time.perf_counter()
        self.requests += 1
        self.largest = max(self.largest, len(request.content))

    def on_response(self, response: httpx.Response) -> None:
        """Note when the answer came and what it was."""
        self.answered = time.perf_counter()
        self.waited += self.answered - self.sent
        self.status = response.status_code

    def round_trip(self) -> float | None:
        """Seconds from sending each request to its answer's head, summed; None: no answer."""
        return None if self.answered is None else self.waited


@dataclass(slots=True)
class Step:
    """One timed step: its seconds, where its time went, its peak resident memory."""

    seconds: float
    watch: Stopwatch
    peak_mb: float = 0.0


@dataclass(slots=True)
class Committed:
    """The commit step: the release call and the commit of its transaction, apart."""

    outcome: Outcome
    release: Step
    commit_seconds: float
    before_mb: float


def commit_release(engine: Engine, ring: KeyRing, policy: Policy, part_dwellings: int) -> Committed:
    """Release ``policy`` in one transaction, as ``broker push`` does; time the parts."""
    before = resident_mb()
    watch = Stopwatch(COMMIT_PARTS)
    reset_peak()
    with make_session_factory(engine)() as session:
        transaction = session.begin()
        with watch.watching():
            releasing, outcome = timed(
                lambda: release(
                    session,
                    ring,
                    policy,
                    run_at=RUN_AT,
                    now=now(),
                    part_dwellings=part_dwellings,
                )
            )
        committing, _ = timed(transaction.commit)
    return Committed(outcome, Step(releasing, watch, peak_mb()), committing, before)


def deliver(engine: Engine, settings: Settings, ring: KeyRing, wire: Wire) -> tuple[Step, Any]:
    """Deliver every due release once, through a client that reports to ``wire``."""
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [wire.on_request],
        "response": [wire.on_response],
    }
    watch = Stopwatch(DELIVERY_PARTS)
    reset_peak()
    with httpx.Client(timeout=HTTP_TIMEOUT, event_hooks=hooks) as client, watch.watching():
        seconds, attempts = timed(
            lambda: deliver_due(make_session_factory(engine), settings, ring, client, now)
        )
    return Step(seconds, watch, peak_mb()), attempts


def post_bare(url: str, payload: bytes) -> float:
    """The baseline: POST ``payload`` unsigned; return its seconds (the client is made untimed)."""
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        request = client.build_request(
            "POST", url, content=payload, headers={"content-type": "application/json"}
        )
        seconds, response = timed(lambda: client.send(request))
    if response.status_code != 200:
        raise SystemExit(f"the bare server answered {response.status_code}")
    return seconds


def measure_baseline(url: str, payload: bytes) -> float:
    """Best of ``BASELINE_RUNS`` unsigned POSTs of ``payload`` to the bare server, in seconds."""
    return min(post_bare(url, payload) for _ in range(BASELINE_RUNS))


def check_in_process(wire: Wire, ring: KeyRing, store: Path) -> tuple[Step, int] | None:
    """Run ``Receiver.accept`` on the captured request in this process; None without one."""
    request = wire.request
    if request is None:
        return None
    receiver = Receiver(store, list(ring.public_keys), clock=lambda: wire.signed_at)
    headers = dict(request.headers)
    body = request.content
    watch = Stopwatch(RECEIVER_PARTS)
    reset_peak()
    with watch.watching():
        seconds, reply = timed(lambda: receiver.accept("POST", str(request.url), headers, body))
    return Step(seconds, watch, peak_mb()), reply.status


def entry_size(ring: KeyRing, payload: bytes) -> int:
    """Return the size of the release's log entry, as its receipt in the payload carries it."""
    receipt = json.loads(payload)["receipt"]
    return len(verify_receipt(receipt, ring.origin, ring.verifiers()).entry)


class Report:
    """Prints one size's figures against the baseline POST."""

    def __init__(self, baseline: float, dwellings: int) -> None:
        """Remember the baseline seconds and the dwellings released."""
        self.baseline = baseline
        self.dwellings = dwellings

    def line(self, label: str, seconds: float, extra: str = "") -> None:
        """Print one figure with its rate and its ratio to the baseline."""
        rate = f"{self.dwellings / seconds:,.0f} dwellings/s"
        ratio = seconds / self.baseline
        print(f"  {label}: {seconds:.3f} s  ({rate})  ratio {ratio:,.0f}x{extra}", flush=True)

    @staticmethod
    def part(label: str, seconds: float, *, nested: bool = False) -> None:
        """Print one part of a figure."""
        indent = " " * (8 if nested else 6)
        print(f"{indent}{label}: {seconds:.3f} s", flush=True)

    def parts(self, step: Step) -> None:
        """Print the timed parts of ``step``."""
        for label, seconds, nested in step.watch.lines():
            self.part(label, seconds, nested=nested)


@dataclass(slots=True)
class Run:
    """One size on one database: its name, the scratch directory, the keys, the size."""

    database: str
    directory: Path
    ring: KeyRing
    dwellings: int
    part_dwellings: int


@dataclass(slots=True)
class Delivered:
    """The delivery step, what came of it, and the receiver's side."""

    step: Step
    attempts: list[Any]
    wire: Wire
    receiver: Peer
    in_process: tuple[Step, int] | None = None


def measure(run: Run, engine: Engine) -> None:
    """Fill, release, deliver and compare one size on ``engine``; print the figures."""
    label = f"{run.database}, {run.dwellings:,} dwellings"
    note(f"{label}: storing the schedule")
    seconds, departments = timed(lambda: store_schedule(engine, ORG, run.dwellings))
    note(f"{label}: stored in {seconds:.1f} s")
    policy = bench_policy(departments)
    note(f"{label}: committing the release")
    committed = commit_release(engine, run.ring, policy, run.part_dwellings)
    made = committed.outcome.release
    if made is None:
        raise SystemExit(f"nothing was released: {committed.outcome.reason}")
    note(f"{label}: publishing the log (integrate, sign one checkpoint)")
    published, _ = timed(lambda: integrate_pending(engine, run.ring))
    with make_session_factory(engine)() as session:
        payload = release_body(session, Settings(home=run.directory), made)
    store = run.directory / f"received-{run.database.lower()}-{run.dwellings}"
    pem = run.ring.public_pem()
    # As `broker receiver --max-body-mib` would be set for a release over the default.
    max_body = max(RECEIVER_MAX_BODY, len(payload) + 2**20)
    with (
        peer("receiver", store, pem, max_body) as receiver,
        peer("bare", store, pem) as bare,
    ):
        settings = Settings(
            home=run.directory,
            recipients=(
                RecipientSettings.model_validate(
                    {"id": policy.recipient, "webhook": f"{receiver.url}/releases"}
                ),
            ),
        )
        note(f"{label}: delivering {len(payload) / MB:,.1f} MB to the receiver")
        wire = Wire()
        step_, attempts = deliver(engine, settings, run.ring, wire)
        note(f"{label}: baseline POSTs")
        baseline = measure_baseline(bare.url, payload)
    delivered = Delivered(step_, attempts, wire, receiver)
    note(f"{label}: the receiver's checks again, in this process")
    delivered.in_process = check_in_process(wire, run.ring, Path(f"{store}-in-process"))
    print(
        f"{label} ({departments:,} departments, {run.dwellings * len(PHASES):,} phases stored):",
        flush=True,
    )
    report = Report(baseline, made.dwellings)
    print(
        f"  release: {made.dwellings:,} dwellings; payload {len(payload) / MB:,.1f} MB"
        f" ({len(payload) / made.dwellings:,.0f} bytes per dwelling), of which the log entry"
        f" {entry_size(run.ring, payload):,} bytes (in the receipt, base64)"
    )
    if made.parts > 1:
        print(
            f"  sent in {made.parts:,} parts of at most {run.part_dwellings:,} dwellings"
            f" (BROKER_RELEASE_PART_DWELLINGS); {wire.requests:,} requests, the largest"
            f" {wire.largest / MB:,.1f} MB"
        )
    print(f"  bare POST of the payload, unsigned: {baseline:.3f} s  (baseline, best of 3)")
    report_commit(report, committed)
    print(f"  publish (integrate the entry, sign one checkpoint): {published:.3f} s")
    report_delivery(report, delivered, len(payload))


def report_commit(report: Report, committed: Committed) -> None:
    """Print the commit's figures and where its time went."""
    step_ = committed.release
    total = step_.seconds + committed.commit_seconds
    report.line(
        "commit (evaluate + log entry + outbox, one transaction)",
        total,
        f"  peak RSS {step_.peak_mb:,.0f} MB (from {committed.before_mb:,.0f} MB)",
    )
    report.parts(step_)
    report.part(
        "the rest, by difference: records, keys, outbox and recipient-state rows, flush",
        step_.seconds - step_.watch.total(),
    )
    report.part("the commit of the transaction", committed.commit_seconds)


def report_delivery(report: Report, delivered: Delivered, size: int) -> None:
    """Print the delivery's figures, where its time went and, when it failed, why."""
    attempts, wire, step_ = delivered.attempts, delivered.wire, delivered.step
    outcome = "delivered" if attempts and attempts[0].delivered else "NOT delivered"
    problem = f" ({attempts[0].problem})" if attempts and attempts[0].problem else ""
    peak = delivered.receiver.peak_mb
    receiver_peak = "unknown" if peak is None else f"{peak:,.0f} MB"
    report.line(
        f"deliver (sign + POST + receiver checks and storage + outcome), {outcome}{problem}",
        step_.seconds,
        f"  peak RSS {step_.peak_mb:,.0f} MB; receiver process {receiver_peak}",
    )
    round_trip = wire.round_trip()
    *sending, outcome_part = step_.watch.lines()
    for label, seconds, nested in sending:
        report.part(label, seconds, nested=nested)
    if round_trip is not None:
        report.part(
            f"POST round trips ({wire.requests:,}), the last answered {wire.status}:"
            " transfer, checks, storage",
            round_trip,
        )
    report.part(outcome_part[0], outcome_part[1])
    report.part(
        "the rest, by difference: reading the outbox row, sessions and commits",
        step_.seconds - step_.watch.total() - (round_trip or 0.0),
    )
    if delivered.in_process is not None:
        checked, status = delivered.in_process
        report.line(
            f"  receiver's checks and storage alone, in this process (answer {status})",
            checked.seconds,
            f"  peak RSS {checked.peak_mb:,.0f} MB",
        )
        report.parts(checked)
        report.part(
            "the rest, by difference: parsing the body and the entry (json.loads)",
            checked.seconds - checked.watch.total(),
        )
    if size > RECEIVER_MAX_BODY:
        print(
            f"  note: the payload is over the reference receiver's default limit of"
            f" {RECEIVER_MAX_BODY / 2**20:,.0f} MiB per body, reached at about"
            f" {RECEIVER_MAX_BODY * report.dwellings // size:,} dwellings; the receiver"
            f" here was started with {-(-size // 2**20) + 1:,} MiB"
            " (`broker receiver --max-body-mib`)",
            flush=True,
        )


def measure_database(
    database: str, fresh: Callable[[], Engine], sizes: Sequence[int], part_dwellings: int
) -> None:
    """Run every size on a fresh database from ``fresh``, with one key ring."""
    with tempfile.TemporaryDirectory(prefix="bench-push-home-") as name:
        directory = Path(name)
        settings = Settings(home=directory)
        init_keys(settings)
        ring = load_keys(settings)
        for dwellings in sizes:
            engine = fresh()
            try:
                measure(Run(database, directory, ring, dwellings, part_dwellings), engine)
            finally:
                engine.dispose()
            gc.collect()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--dwellings",
        type=int,
        nargs="+",
        default=list(DEFAULT_DWELLINGS),
        metavar="N",
        help=(
            f"release sizes in dwellings (default {DEFAULT_DWELLINGS[0]:,}; the national size,"
            f" {NATIONAL:,}, takes many minutes and several GB of memory)"
        ),
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on this PostgreSQL database (in throw-away schemas)",
    )
    parser.add_argument(
        "--part-dwellings",
        type=int,
        default=Settings().release_part_dwellings,
        metavar="N",
        help=(
            "send a release of more dwellings in parts of this many, as"
            " BROKER_RELEASE_PART_DWELLINGS does (default: its default,"
            f" {Settings().release_part_dwellings:,})"
        ),
    )
    args = parser.parse_args(argv)
    if args.part_dwellings < 1:
        parser.error("--part-dwellings must be at least 1")
    if min(args.dwellings) < MIN_DWELLINGS:
        parser.error(f"--dwellings must be at least {MIN_DWELLINGS}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every size on SQLite and, if asked, on PostgreSQL; print the figures."""
    args = parse_args(argv)
    configure_logging(log_format="console", level="warning", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-push-") as name:
        measure_database(
            "SQLite", sqlite_files(Path(name), "push"), args.dwellings, args.part_dwellings
        )
    if args.postgres:
        with postgres_schemas(args.postgres) as fresh:
            measure_database("PostgreSQL", fresh, args.dwellings, args.part_dwellings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
