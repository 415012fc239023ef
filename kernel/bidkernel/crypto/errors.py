"""Exceptions of the hazmat crypto layer. They never carry key material."""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error raised by :mod:`bidkernel.crypto`."""


class InvalidSignature(CryptoError):
    """A signature did not verify."""


class DecryptionError(CryptoError):
    """A ciphertext could not be decrypted (one generic error: no padding or MAC oracle)."""


class InvalidKey(CryptoError):
    """A key is malformed, of the wrong type or out of range."""


class InvalidTag(CryptoError):
    """An authentication tag did not match."""


class InvalidPadding(CryptoError):
    """Block-cipher padding is malformed."""
