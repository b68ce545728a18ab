"""SuperBatch: run the same job spec on this machine or on Azure Batch."""
