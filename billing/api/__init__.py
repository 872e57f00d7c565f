"""REST API of the billing app (contracts, claim lines, allocations)."""
