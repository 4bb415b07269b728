"""BG5xx: deployment and scale (advice, off by default)."""
