"""The web admin: static ES modules served at /admin (no build step)."""
