"""Hosted bots on Fly Machines: the Machines API client, a local wire-compatible emulator, and the bot image.

Imports nothing at package import time; pick the module you need (``fly.client``, ``fly.emulator``).
"""
