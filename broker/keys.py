"""The broker's keys: Ed25519 log signing keys and the dwelling-reference key, under ``home/keys``.

Files (private ones mode 0600, in a 0700 directory):

- ``log-NNNN.pem``: a log signing key (PKCS#8 PEM), encrypted with
  ``BROKER_KEY_PASSPHRASE`` when it is set; the highest number is current.
- ``log-NNNN.pub.pem``: its public key, kept when the key is rotated so old
  checkpoints keep verifying.
- ``reference.key``: 32 random bytes (hex) keying the HMAC that turns a dwelling
  id into the opaque reference the disclosure log stores.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from sqlalchemy.orm import Session

from audit import (
    Draft,
    EntryValue,
    PemError,
    Signer,
    Verifier,
    dwelling_reference,
    public_keys_from_pem,
    public_keys_to_pem,
    verifier_key,
)
from broker.config import Settings
from broker.errors import ConfigError, KeyFileError

__all__ = [
    "KeyRing",
    "KeyStore",
    "create_log_key",
    "init_keys",
    "load_keys",
    "read_opening_key",
    "read_public_keys",
    "rotate_keys",
]

_LOG_KEY = re.compile(r"^log-(\d{4})\.pem$")
_REFERENCE = "reference.key"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The loaded keys: the current signing key, every public key, the reference key."""

    origin: str
    signing: Ed25519PrivateKey
    public_keys: tuple[Ed25519PublicKey, ...]
    reference_key: bytes
    number: int

    def signer(self, *extra: Ed25519PrivateKey) -> Signer:
        """Return the log signer with the current key (and any ``extra`` co-signing keys)."""
        return Signer(self.origin, (self.signing, *extra))

    def verifiers(self) -> list[Verifier]:
        """Return a verifier for every log key, current and earlier."""
        return [Verifier.of(self.origin, key) for key in self.public_keys]

    def verifier_keys(self) -> list[str]:
        """Return every log key as a note verifier key string."""
        return [verifier_key(self.origin, key) for key in self.public_keys]

    def public_pem(self) -> bytes:
        """Return every public log key as PEM, oldest first."""
        return public_keys_to_pem(self.public_keys)

    def reference(self, dwelling_id: str) -> str:
        """Return the opaque log reference of a dwelling."""
        return dwelling_reference(self.reference_key, dwelling_id)


def _directory(settings: Settings) -> Path:
    return settings.home / "keys"


def _encryption(settings: Settings) -> KeySerializationEncryption:
    if settings.key_passphrase is None:
        return NoEncryption()
    return BestAvailableEncryption(settings.key_passphrase.get_secret_value().encode())


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _numbers(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    found = (_LOG_KEY.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def create_log_key(settings: Settings) -> tuple[int, Ed25519PrivateKey]:
    """Write a new log signing key with the next number; return the number and the key."""
    directory = _directory(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    number = max(_numbers(directory), default=0) + 1
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, _encryption(settings))
    _write_private(directory / f"log-{number:04d}.pem", pem)
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (directory / f"log-{number:04d}.pub.pem").write_bytes(public)
    return number, key


def init_keys(settings: Settings) -> bool:
    """Create the log key and the reference key if they are missing; return whether any was."""
    directory = _directory(settings)
    created = False
    if not _numbers(directory):
        create_log_key(settings)
        created = True
    if not (directory / _REFERENCE).exists():
        _write_private(directory / _REFERENCE, secrets.token_hex(32).encode() + b"\n")
        created = True
    return created


def _load_private(path: Path, settings: Settings) -> Ed25519PrivateKey:
    passphrase = settings.key_passphrase
    password = passphrase.get_secret_value().encode() if passphrase else None
    try:
        key = load_pem_private_key(_read(path), password=password)
    except TypeError:
        # Encrypted without a passphrase given, or a passphrase for a plain key.
        hint = "set" if password is None else "unset"
        raise ConfigError(f"{path.name}: cannot open it; {hint} BROKER_KEY_PASSPHRASE") from None
    except ValueError:
        raise ConfigError(f"{path.name}: wrong BROKER_KEY_PASSPHRASE or not a key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path.name}: not an Ed25519 key")
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path.name}: cannot be read ({exc.strerror})") from None


def read_public_keys(path: Path) -> list[Ed25519PublicKey]:
    """Return the Ed25519 public keys in the PEM file at ``path`` (a log's, a peer's).

    Raises:
        KeyFileError: the file cannot be read, or holds no Ed25519 public key.
    """
    try:
        return public_keys_from_pem(_read(path))
    except PemError as exc:
        raise KeyFileError(f"{path.name}: {exc}") from exc


def read_opening_key(path: Path) -> X25519PrivateKey:
    """Return the X25519 private key (unencrypted PEM) a receiver opens sealed releases with.

    Raises:
        KeyFileError: the file cannot be read, or holds no unencrypted X25519 private key.
    """
    try:
        key = load_pem_private_key(_read(path), password=None)
    except (TypeError, ValueError):
        raise KeyFileError(f"{path.name}: not an unencrypted PEM private key") from None
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path.name}: not an X25519 private key")
    return key


def load_keys(settings: Settings) -> KeyRing:
    """Load the current signing key, every public key and the reference key.

    Raises:
        ConfigError: no keys yet (run ``broker keys init``), or a key cannot be opened
            (``KeyFileError``: a public key file is not one).
    """
    directory = _directory(settings)
    numbers = _numbers(directory)
    reference = directory / _REFERENCE
    if not numbers or not reference.exists():
        raise ConfigError(f"no keys under {directory}; run `broker keys init`")
    signing = _load_private(directory / f"log-{numbers[-1]:04d}.pem", settings)
    public: list[Ed25519PublicKey] = []
    for number in range(1, numbers[-1] + 1):
        path = directory / f"log-{number:04d}.pub.pem"
        if path.exists():
            public += read_public_keys(path)
    current = signing.public_key()
    if not any(key == current for key in public):
        public.append(current)
    try:
        reference_key = bytes.fromhex(reference.read_text(encoding="ascii").strip())
    except ValueError:
        raise ConfigError(f"{reference.name}: not a hex key") from None
    return KeyRing(settings.log_origin, signing, tuple(public), reference_key, numbers[-1])


class KeyStore:
    """The process's key ring: loaded from disk once, and again only after a rotation.

    A long-running process (``broker serve``, ``broker scheduler``) holds one store
    and asks it for the ring per run or request. A rotation (``broker keys rotate``,
    from any process) writes the next numbered ``log-NNNN.pem``: :meth:`ring` lists
    the key directory, and only when its newest number differs from the loaded
    ring's are the keys read (and decrypted) again. Safe to share between threads.
    """

    def __init__(self, settings: Settings) -> None:
        """Load from ``settings``' key directory, on first use."""
        self._settings = settings
        self._ring: KeyRing | None = None
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        """Return the current key ring, loading it if it is not loaded or the keys rotated.

        Raises:
            ConfigError: no keys yet, or a key cannot be opened.
        """
        newest = max(_numbers(_directory(self._settings)), default=0)
        ring = self._ring
        if ring is not None and ring.number == newest:
            return ring
        with self._lock:
            if self._ring is None or self._ring.number != newest:
                self._ring = None
                self._ring = load_keys(self._settings)
            return self._ring


def rotate_keys(settings: Settings, session: Session, *, at: dt.datetime) -> KeyRing:
    """Make a new log signing key current and put the rotation on record.

    The rotation entry names the old and the new key, and its checkpoint is
    signed by both, so a verifier that trusts the old key learns the new one
    from the log itself. If the entry cannot be recorded, the new key is removed
    and the old one stays current.
    """
    old = load_keys(settings)
    number, new_key = create_log_key(settings)
    fields: dict[str, EntryValue] = {
        "time": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event": "key-rotated",
        "actor": "broker",
        "key": verifier_key(old.origin, new_key.public_key()),
        "previous_key": verifier_key(old.origin, old.signing.public_key()),
    }
    # The disclosure package reads keys; import it here, not at the top.
    from broker.disclosure import record  # noqa: PLC0415

    try:
        signer = Signer(old.origin, (new_key, old.signing))
        record(session, old, [Draft(fields)], signer=signer)
        session.flush()
    except Exception:
        for suffix in (".pem", ".pub.pem"):
            (_directory(settings) / f"log-{number:04d}{suffix}").unlink(missing_ok=True)
        raise
    return load_keys(settings)
