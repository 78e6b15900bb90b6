"""The web edge: pages, and the documents rendered from the same data (XLSX, PDF)."""

__all__: list[str] = []
