"""Socket.IO signalling on the `/rtc` namespace (python-socketio on the same aiohttp app).

The namespace, join-token auth and room events arrive with the live-room issues; the
ack envelope every event answers with is fixed here, beside the HTTP error mapping.
"""
