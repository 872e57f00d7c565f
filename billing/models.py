"""Models of the billing app (built in a later issue)."""
