"""A local Cloud KMS: the REST wire format over loopback HTTP, key versions, a key file.

``KmsEmulator(key_file).start()`` serves it in a thread (tests, benchmarks);
``hmmtrade kms-emulator`` serves it in the foreground.
"""

from vault.emulator.keystore import KeyStore, KmsApiError
from vault.emulator.server import KmsEmulator

__all__ = ["KeyStore", "KmsApiError", "KmsEmulator"]
