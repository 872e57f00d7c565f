"""Models of the providers app (built in a later issue)."""
