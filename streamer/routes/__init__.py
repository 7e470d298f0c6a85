"""HTTP endpoints: media (ranges), health and metrics, the admin API."""
