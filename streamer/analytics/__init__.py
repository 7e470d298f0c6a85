"""Listener analytics: delivery events, counting after the IAB guidelines, rollups, reports.

Counting rules and user-agent classification are pure modules; capturing events, rollups and
reports do the I/O at the edges.
"""
