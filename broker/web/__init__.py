"""The web edge: pages, and the documents rendered from the same data (XLSX, PDF)."""

from broker.web._notify import register_hooks as register_notifications
from broker.web._static import StaticAssets, install_static, static_url

__all__ = ["StaticAssets", "install_static", "register_notifications", "static_url"]
