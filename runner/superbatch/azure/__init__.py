"""Azure Batch backend: stack outputs, credentials, staging, submission, monitoring, results.

Import-light on purpose: the Azure SDKs are imported inside the functions that use them so
``superbatch --help`` stays fast.
"""
