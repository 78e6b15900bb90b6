"""Synthetic demo data: an ERP export for one fictional housing department."""

from __future__ import annotations

from broker.demo._generate import DEMO_HEADINGS, generate_demo_rows, write_demo_csv

__all__ = ["DEMO_HEADINGS", "generate_demo_rows", "write_demo_csv"]
