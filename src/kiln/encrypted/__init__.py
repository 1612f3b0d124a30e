"""Encrypted inference: online deployments that score CKKS-encrypted rows (TenSEAL), and the client SDK
that keeps the secret key.

- a deployment setting, ``encryption: {scheme: ckks}`` (``kiln.specs.replica.EncryptionSettings``), for
  models with an exact homomorphic form (``model_form``); the replica's side is
  ``kiln.serving.replica.encrypted_path``;
- :class:`EncryptedClient` (``client``): encrypts, sends, decrypts; ``kiln online-endpoint invoke --encrypted``;
- ``parameters`` (CKKS at 128-bit security), ``packing`` (many rows per ciphertext), ``evaluation`` (the
  server's computation), ``residues`` and ``seal_format`` (a linear layer as one integer matrix product on
  the ciphertexts' RNS residues), ``contexts`` (public contexts: checks and a bounded store), ``wire`` (the body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.capabilities import Capability
    from kiln.encrypted.client import EncryptedClient

_capability: Capability | None = None


def _descriptor() -> Capability:
    """Made on first use, so that a scoring replica importing ``kiln.encrypted.wire`` loads no capability code."""
    global _capability
    if _capability is None:
        from kiln.capabilities import Capability

        _capability = Capability(
            name="encrypted",
            summary="encrypted inference: deployments that score CKKS-encrypted rows; the client keeps the secret "
            "key (TenSEAL)",
            extra="encrypted",
            modules=("tenseal",),
        )
    return _capability


def __getattr__(name: str) -> Any:
    if name == "CAPABILITY":
        return _descriptor()
    if name == "EncryptedClient":
        from kiln.encrypted.client import EncryptedClient

        return EncryptedClient
    raise AttributeError(name)


__all__ = ["CAPABILITY", "EncryptedClient"]
