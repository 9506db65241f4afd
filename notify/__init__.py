"""Notifications: derive them from what bots report, and deliver them to a trader's channels.

``derive`` and ``daily`` are pure (records in, notifications out, deterministic ids);
``port`` is the delivery port with its channel configurations; ``webhook``, ``email`` and
``telegram`` are its adapters. The hosted worker (``workers.notifier``) and the local agent
(``agent.notify``) wire them; neither the bot nor trading ever waits for a delivery.
"""
