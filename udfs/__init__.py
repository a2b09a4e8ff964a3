"""Python UDFs of the metering job: validation (vectorized) and rating (pure library calls)."""
