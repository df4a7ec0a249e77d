"""Authentication, sessions, the access policy, throttling and the audit log."""
