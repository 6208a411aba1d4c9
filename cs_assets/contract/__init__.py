"""The raw data contract: the tables users land their product data in."""
