"""Middlewares, in the order `app.py` installs them: errors, auth, validation."""
