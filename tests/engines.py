"""Count the SQLAlchemy engines a command builds: a real engine plugin on the database URL.

SQLAlchemy calls a ``CreateEnginePlugin`` named in a URL's ``plugin`` query for
every engine created from that URL; this one records each engine it sees.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlalchemy.dialects import plugins
from sqlalchemy.engine import URL, CreateEnginePlugin, make_url

NAME = "broker_test_count_engines"


class CountEngines(CreateEnginePlugin):
    """Records every engine built from a URL that names it."""

    created: ClassVar[list[Engine]] = []

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        """Take nothing from the URL or the arguments."""
        super().__init__(url, kwargs)

    def update_url(self, url: URL) -> URL:
        """Remove the plugin's name, so the dialect never sees it."""
        return url.difference_update_query(["plugin"])

    def engine_created(self, engine: Engine) -> None:
        """Record the engine."""
        self.created.append(engine)


plugins.register(NAME, __name__, "CountEngines")


def counted(url: str) -> str:
    """Return ``url`` with the counting plugin named in it."""
    return make_url(url).update_query_dict({"plugin": NAME}).render_as_string(hide_password=False)
