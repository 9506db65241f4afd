"""What the vault raises. Callers catch these, never a vendor's exceptions::

VaultError
├── InvalidEnvelope     any decryption failure: tampered, moved, shredded, destroyed key
│                       (one opaque error: which check failed is nobody's business)
└── KmsError            the key service could not do what was asked
    ├── KmsUnavailable  unreachable, timed out, 5xx: retry later, nothing was done
    └── KmsRejected     the service answered no (bad key name, permission, disabled key)
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every vault error."""


class InvalidEnvelope(VaultError):
    """The sealed secret cannot be opened. Deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__("the sealed secret could not be decrypted")


class KmsError(VaultError):
    """The key management service failed a request."""


class KmsUnavailable(KmsError):
    """The key management service did not answer (or answered 5xx); nothing was done."""


class KmsRejected(KmsError):
    """The key management service refused the request (4xx)."""
