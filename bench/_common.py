"""What the benchmarks share: progress on stderr, timing, throw-away databases, the schedule shape.

Not a benchmark itself; each ``bench/*.py`` imports it (run as ``python bench/X.py``,
this directory heads ``sys.path``).
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, make_url, text

from broker.db import make_engine, upgrade

T = TypeVar("T")

# Phase kind, first day and last day, in days after the dwelling's first notice.
PHASES = (
    ("varsling", 0, 0),
    ("nedpakning", 84, 88),
    ("genhusning", 91, 210),
    ("udpakning", 211, 213),
    ("hjemkomst", 214, 214),
    ("genetablering", 215, 242),
    ("haandvaerkeradgang", 91, 200),
    ("mangelgennemgang", 250, 250),
)
DOORS = ("tv", "mf", "th")
FLOORS = ("st", "1", "2", "3", "4", "5", "6", "7", "8", "9")


def note(message: str) -> None:
    """Tell the person running the benchmark what is happening (stderr)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(action: Callable[[], T]) -> tuple[float, T]:
    """Run ``action`` and return its wall-clock seconds and its result."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def best_of(runs: int, action: Callable[[], T]) -> tuple[float, T]:
    """Return the best wall-clock seconds of ``runs`` runs (at least one) and the last result."""
    best, result = timed(action)
    for _ in range(runs - 1):
        seconds, result = timed(action)
        best = min(best, seconds)
    return best, result


def sqlite_files(directory: Path, prefix: str) -> Callable[[], Engine]:
    """Return a factory of engines, each on a new migrated SQLite file in ``directory``."""
    made: list[Path] = []

    def fresh() -> Engine:
        path = directory / f"{prefix}-{len(made) + 1}.db"
        made.append(path)
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        return engine

    return fresh


@contextmanager
def postgres_schemas(url: str) -> Iterator[Callable[[], Engine]]:
    """Yield a factory of engines, each on a fresh migrated schema; drop them all after."""
    admin = make_engine(url)
    schemas: list[str] = []
    engines: list[Engine] = []

    def fresh() -> Engine:
        schema = "bench_" + secrets.token_hex(6)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        engine = make_engine(scoped.render_as_string(hide_password=False))
        engines.append(engine)
        upgrade(engine)
        return engine

    try:
        yield fresh
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
