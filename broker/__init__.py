"""The renovation broker service: ingest, policies, releases, delivery, API and CLI."""

__all__: list[str] = []
