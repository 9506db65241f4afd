"""Broker secrets and machine identity: envelope encryption over a KMS port, the Cloud KMS
adapter, the local KMS emulator, and the Ed25519 keys that sign machine JWTs."""
