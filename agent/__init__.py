"""The local agent: a multi-bot supervisor, the Panel dashboard and cloud sync (free tier)."""
