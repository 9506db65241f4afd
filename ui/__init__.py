"""Panel components shared by the agent and the cloud web app: wizard, regime charts, audit viewer, formatting."""
