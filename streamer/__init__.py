"""The streamer: an ASGI origin server for audio (ranges, HLS, admin API)."""
