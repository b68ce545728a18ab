"""Command-line interface (the foundation branch provides the real package)."""
