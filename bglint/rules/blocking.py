"""BG2xx: event loop and threadpool."""
