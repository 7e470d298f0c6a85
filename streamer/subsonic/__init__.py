"""The OpenSubsonic API at /rest: what existing players (DSub, Symfonium, Feishin, ...)
speak. Pure parts (responses, ids, names, views) beside the catalogue queries and the
credentials check; the route is streamer/routes/subsonic.py."""
