"""One module per page of the web app; each exports ``<name>_page(ctx) -> Panel layout``."""
