"""Use cases over the ledger: they take a unit of work and return domain values."""
