"""Delivering releases to recipients: signed webhooks (RFC 9421, RFC 9530) and their checks."""

# Sealed bodies: the broker seals to the recipient's key, the receiver opens.
from broker.delivery._sealing import ALG as SEAL_ALG
from broker.delivery._sealing import LEGACY_ALG as SEAL_LEGACY_ALG
from broker.delivery._sealing import SealError, is_sealed, open_sealed, seal

# Signed requests: the broker signs, the recipient's receiver verifies.
from broker.delivery._signature import (
    DEFAULT_COMPONENTS,
    Headers,
    SignatureError,
    VerifiedSignature,
    check_content_digest,
    content_digest,
    key_id,
    sign_request,
    signature_base,
    verify_request,
)

__all__ = [
    "DEFAULT_COMPONENTS",
    "SEAL_ALG",
    "SEAL_LEGACY_ALG",
    "Headers",
    "SealError",
    "SignatureError",
    "VerifiedSignature",
    "check_content_digest",
    "content_digest",
    "is_sealed",
    "key_id",
    "open_sealed",
    "seal",
    "sign_request",
    "signature_base",
    "verify_request",
]
