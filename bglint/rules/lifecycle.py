"""BG1xx: request lifecycle (objects that die with the request)."""
