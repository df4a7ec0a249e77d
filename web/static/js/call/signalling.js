// The /rtc signalling connection (docs/rtc.md): socket.io with the join token in `auth`,
// WebSocket first and long-polling as the fallback, and every client event sent with an
// acknowledgement that resolves to the server's envelope {ok, data} / {ok, error}.

const ACK_TIMEOUT_MS = 10000;

/** Load the socket.io client (installed by `npm ci --prefix web`); null when missing. */
export async function loadClient(url) {
  try {
    const module = await import(url);
    return module.io || module.default || null;
  } catch {
    return null;
  }
}

/** An envelope for a failure on this side (no answer, not connected). */
export function localError(code, detail) {
  return { ok: false, error: { code, detail } };
}

/**
 * One connection to the room's namespace. `token()` is asked before every (re)connect, so a
 * refreshed join token is used without rebuilding the socket.
 */
export class Signalling {
  constructor(io, join, token) {
    // The page's own origin, not `signalling_url`: the CSP (connect-src 'self') lets the
    // polling fallback reach this origin only, and a public URL spelled differently from
    // the address in the location bar (localhost / 127.0.0.1) would fail.
    const namespace = join.namespace || "/rtc";
    this.socket = io(new URL(namespace, window.location.origin).href, {
      path: join.path || "/socket.io",
      transports: ["websocket", "polling"],
      // When a WebSocket cannot be opened (a proxy that blocks it), try polling next time.
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 8000,
      timeout: 15000,
      autoConnect: false,
      auth: (callback) => {
        token().then(
          (value) => callback({ token: value }),
          () => callback({ token: join.token }),
        );
      },
    });
  }

  /** Listen to a server event. */
  on(event, handler) {
    this.socket.on(event, handler);
  }

  /** Listen to the connection's own events (reconnect attempts live on the manager). */
  onManager(event, handler) {
    this.socket.io.on(event, handler);
  }

  get connected() {
    return this.socket.connected;
  }

  /** True while socket.io will reconnect by itself (false after a refused connect). */
  get active() {
    return this.socket.active;
  }

  connect() {
    this.socket.connect();
  }

  /**
   * Send `event` and wait for its acknowledgement: the server's envelope, or a local
   * `timeout` / `disconnected` envelope. Never rejects.
   */
  request(event, payload = {}, timeoutMs = ACK_TIMEOUT_MS) {
    if (!this.socket.connected) {
      return Promise.resolve(localError("disconnected", "not connected to the room"));
    }
    return new Promise((resolve) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (error, envelope) => {
        if (error) resolve(localError("timeout", `no answer to ${event}`));
        else if (envelope && typeof envelope.ok === "boolean") resolve(envelope);
        else resolve(localError("bad_envelope", `unexpected answer to ${event}`));
      });
    });
  }

  close() {
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners?.();
    this.socket.disconnect();
  }
}
