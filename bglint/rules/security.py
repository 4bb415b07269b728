"""BG4xx: security and data hygiene."""
