"""Pydantic contracts shared by every part of HMM Trade. Imports nothing of ours."""
