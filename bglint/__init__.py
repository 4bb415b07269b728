"""bglint: static analysis for FastAPI/Starlette background-task misuse."""

__version__ = "0.1.0"
