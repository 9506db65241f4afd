"""The cloud web app: Panel pages over the API, cookie sessions, per-user live fan-out from the bus."""
