"""Ingest of the housing company's renovation schedule (CSV, XLSX or JSON)."""

from broker.ingest._mapping import ColumnMapping, load_mapping
from broker.ingest._rows import parse_date
from broker.ingest.service import (
    IngestReport,
    ParsedUpload,
    check_org,
    ingest_bytes,
    ingest_file,
    parse_org,
    parse_upload,
    read_upload,
    store_upload,
)

__all__ = [
    "ColumnMapping",
    "IngestReport",
    "ParsedUpload",
    "check_org",
    "ingest_bytes",
    "ingest_file",
    "load_mapping",
    "parse_date",
    "parse_org",
    "parse_upload",
    "read_upload",
    "store_upload",
]
