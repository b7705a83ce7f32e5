"""The dev stack's EdDSA key pair for access tokens, made once per data folder."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


def ensure_jwt_keys(folder: Path) -> tuple[Path, Path]:
    """Return (private, public) PEM paths, creating the pair if missing."""
    private_path = folder / "jwt_ed25519.pem"
    public_path = folder / "jwt_ed25519.pub.pem"
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path
