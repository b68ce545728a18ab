"""Conformance of the Batch emulator to recorded exchanges of the real service."""
