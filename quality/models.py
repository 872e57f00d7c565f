"""Models of the quality app (built in a later issue)."""
