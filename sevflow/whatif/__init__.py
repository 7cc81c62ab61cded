"""sevflow whatif: the period replayed through a candidate configuration (pure)."""
