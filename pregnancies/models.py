"""Models of the pregnancies app (built in a later issue)."""
