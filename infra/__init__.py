"""The SuperBatch Pulumi program: one secure, scale-to-zero Batch environment per stack.

Pulumi runs ``infra/__main__.py``; the modules here each declare one concern as a small
ComponentResource. The runner never imports this package (it reads stack outputs).
"""
