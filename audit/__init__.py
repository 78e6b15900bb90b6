"""The disclosure log: a tamper-evident transparency log of every release.

Imports neither ``broker`` nor ``schemas``, so an auditor can install it alone.
"""

__all__: list[str] = []
