"""A Batch data-plane emulator for tests: the real azure-batch SDK talks to it over HTTP(S).

See README.md beside this file for the fixture API and the fidelity table.
"""
