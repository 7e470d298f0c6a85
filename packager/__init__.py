"""HLS playlists from segment indexes; no I/O (arrives with the transcode issue)."""
