"""The residents' rights the broker answers for: access (GDPR Art. 15) to what was disclosed."""

from broker.rights.service import AccessAnswer, Disclosed, access_request

__all__ = ["AccessAnswer", "Disclosed", "access_request"]
