"""The HTTP edge of the broker."""

from broker.api._uploads import stop_uploads
from broker.api.app import create_app

__all__ = ["create_app", "stop_uploads"]
