"""gunicorn's settings; gunicorn reads this file from the directory it starts in (the Dockerfile's /app)."""

# The access log leaves out the tokens of invitation, unlock, address-confirmation and reset links.
logger_class = "igo.gunicorn_logging.RedactingLogger"
