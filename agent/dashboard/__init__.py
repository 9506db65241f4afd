"""The Panel dashboard: one page per job, served by the agent with its own JS (no CDN)."""
