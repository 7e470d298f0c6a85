"""Radio channels: schedules with time zones and recurrence, what plays when, live playout.

Pure planning lives in modules without I/O, each one idea (docs/channels.md):
``model`` (the values), ``recurrence`` (occurrences, daylight saving time), ``conflicts``
(who holds the air), ``rotation`` (order, shuffle, repetition rules), ``timeline`` (the plays
on air, segment-exact) and ``sequence`` (numbered segments from checkpoints). Rows and
queries live in the repository module; HTTP in streamer.routes.
"""
