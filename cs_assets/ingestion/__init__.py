"""Reading raw tables from the configured source and validating them against the contract."""
