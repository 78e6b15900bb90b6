"""Delivering releases to recipients: signed webhooks (RFC 9421, RFC 9530) and their checks."""

# Signed requests: the broker signs, the recipient's receiver verifies.
from broker.delivery._signature import (
    DEFAULT_COMPONENTS,
    Headers,
    SignatureError,
    VerifiedSignature,
    check_content_digest,
    content_digest,
    sign_request,
    signature_base,
    verify_request,
)

__all__ = [
    # Signed requests (broker/delivery/_signature.py)
    "DEFAULT_COMPONENTS",
    "Headers",
    "SignatureError",
    "VerifiedSignature",
    "check_content_digest",
    "content_digest",
    "sign_request",
    "signature_base",
    "verify_request",
]
