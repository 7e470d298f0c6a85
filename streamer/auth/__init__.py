"""Who may do what: users, sessions, CSRF, TOTP, API keys, roles and library access,
rate limits and the audit log."""
