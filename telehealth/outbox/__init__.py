"""The transactional outbox: messages written with the change that causes them, sent later
by a dispatcher owned by the app, with retries, backoff and recorded delivery."""
