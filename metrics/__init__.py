"""Prometheus metrics of every HMM Trade process (API, workers, agent, bots).

Each process builds one :class:`metrics.scope.ProcessMetrics` with its own
``CollectorRegistry`` (never the library's global one: tests run the API, the workers and
the agent in one Python process) and exposes it at ``/metrics`` behind a bearer token
(:mod:`metrics.exposition`). Names follow Prometheus conventions: the ``hmmtrade_``
prefix, base units (``_seconds``, ``_bytes``) and ``_total`` on counters.

Imports only ``prometheus_client``, so every layer (``trader`` and the bot image included)
may use it.
"""
