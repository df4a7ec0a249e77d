// The call page's controller: asks to join (REST), connects to /rtc, waits to be admitted
// or admits others (host), keeps one PeerLink per other admitted peer, handles reconnects
// and samples link quality; the buttons, chat and outcome form are in controls.js.
// docs/rtc.md is the contract it follows.

import { CallControls } from "./controls.js";
import { DeviceCheck } from "./devices.js";
import { PeerLink } from "./peer.js";
import { REPORT_MS, SAMPLE_MS, grade, qualityReport } from "./quality.js";
import { Signalling, loadClient } from "./signalling.js";
import { CallView } from "./ui.js";

const TOKEN_MARGIN_MS = 30000; // refresh a join token this long before it expires
const MAX_TOKEN_REFRESHES = 3; // refused connects in a row before giving up
const JOIN_ERRORS = { 401: "signed_out", 404: "not_found" };
const FRAME_WATCH_MS = 1000; // how often the remote video's frame count is checked
const STALLED_CHECKS = 3; // checks without a new frame before "video paused" shows
const TERMINAL = new Set(["ended", "left", "replaced", "error"]);

export class CallRoom {
  constructor(root) {
    this.root = root;
    this.words = JSON.parse(root.dataset.words);
    this.view = new CallView(root, this.words);
    this.roomId = root.dataset.roomId;
    this.state = "loading";
    this.join = null;
    this.peerId = null;
    this.role = null;
    this.admitted = false;
    this.audioOnly = false;
    this.muted = false;
    this.cameraOff = false;
    this.handRaised = false;
    this.everConnected = false;
    this.refusals = 0;
    this.links = new Map();
    this.names = new Map();
    this.waitingIds = new Set();
    this.lastQuality = null;
    this.lastReportAt = 0;
    this.reports = {};
    this.errors = [];
    this.outcomeSaved = false;
    this.timer = null;
    this.devices = this.deviceCheck();
    this.controls = new CallControls(this);
    this.expose();
  }

  deviceCheck() {
    const el = (id) => this.view.el(id);
    const els = {
      preview: el("preview-video"),
      meter: el("mic-level"),
      camera: el("pick-camera"),
      microphone: el("pick-microphone"),
      speaker: el("pick-speaker"),
      testSpeaker: el("test-speaker"),
      problem: el("media-problem"),
      retry: el("media-retry"),
    };
    els.retry.addEventListener("click", () => this.controls.retryMedia());
    return new DeviceCheck(els, this.words, {
      onTrackChange: (kind, track) => this.controls.trackChanged(kind, track),
      onProblem: () => {},
    });
  }

  /** Read-only state for tests and for anyone debugging a call. */
  expose() {
    const room = this;
    window.telehealthCall = Object.freeze({
      get state() { return room.state; },
      get peerId() { return room.peerId; },
      get role() { return room.role; },
      get admitted() { return room.admitted; },
      get hostPresent() { return room.hostPresent; },
      get audioOnly() { return room.audioOnly; },
      get muted() { return room.muted; },
      get cameraOff() { return room.cameraOff; },
      get handRaised() { return room.handRaised; },
      get peers() { return [...room.links.keys()]; },
      get connectionStates() {
        return Object.fromEntries([...room.links].map(([id, l]) => [id, l.pc.connectionState]));
      },
      get links() {
        return Object.fromEntries([...room.links].map(([id, l]) => [id, l.describe()]));
      },
      get quality() { return room.lastQuality; },
      get sendingCapKbps() {
        const link = [...room.links.values()][0];
        return link ? link.sendingCapKbps() : null;
      },
      get reports() { return { ...room.reports }; },
      get outcomeSaved() { return room.outcomeSaved; },
      get errors() { return [...room.errors]; },
    });
  }

  setState(state) {
    this.state = state;
    this.view.setState(state);
  }

  note(error) {
    this.errors.push(String(error));
    if (this.errors.length > 20) this.errors.shift();
  }

  // --- start --------------------------------------------------------------------------

  async start() {
    this.controls.bind();
    const media = this.devices.start();
    const io =
      this.root.dataset.vendorReady === "true" ? await loadClient(this.root.dataset.vendorUrl) : null;
    if (!io) {
      this.view.showAlert("no_client");
      this.setState("error");
      await media;
      return;
    }
    const joined = await this.requestJoin();
    if (!joined.ok) {
      await media;
      this.end(joined.reason);
      return;
    }
    this.join = joined.data;
    this.role = this.join.role;
    await media;
    this.view.el("local-video").srcObject = this.devices.stream;
    this.connect(io);
  }

  /** POST join: {ok, data} or {ok: false, reason} (a key of the page's words). */
  async requestJoin() {
    let response;
    try {
      response = await fetch(`/api/v1/rooms/${encodeURIComponent(this.roomId)}/join`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
    } catch {
      return { ok: false, reason: "join_failed", retry: true };
    }
    const body = await response.json().catch(() => ({}));
    if (response.ok && body.token) return { ok: true, data: body };
    if (body.code === "room_ended") return { ok: false, reason: "ended" };
    if (body.code === "room_not_open") return { ok: false, reason: "not_open" };
    return { ok: false, reason: JOIN_ERRORS[response.status] || "join_failed" };
  }

  /** The join token for the next (re)connect, fetched anew when it is about to expire. */
  async freshToken() {
    const expires = Date.parse(this.join.expires_at);
    if (!Number.isNaN(expires) && expires - Date.now() > TOKEN_MARGIN_MS) return this.join.token;
    const joined = await this.requestJoin();
    if (joined.ok) {
      this.join = { ...this.join, ...joined.data };
      return this.join.token;
    }
    if (!joined.retry) this.end(joined.reason);
    throw new Error(joined.reason);
  }

  connect(io) {
    this.setState("connecting");
    this.view.say("connecting");
    const s = new Signalling(io, this.join, () => this.freshToken());
    this.signalling = s;
    s.on("connect", () => this.connected());
    s.on("disconnect", (reason) => this.disconnected(reason));
    s.on("connect_error", (error) => this.refused(error));
    s.on("peer-joined", (peer) => this.peerJoined(peer));
    s.on("peer-reconnected", ({ peer_id: id }) => this.view.say("peer_reconnected", { name: this.nameOf(id) }));
    s.on("peer-left", ({ peer_id: id }) => this.peerLeft(id));
    s.on("waiting", ({ waiting }) => this.showWaiting(waiting || []));
    s.on("admitted", (data) => this.wasAdmitted(data && data.peers));
    s.on("host-present", ({ present }) => this.showHostPresent(Boolean(present)));
    s.on("signal", (message) => this.signalled(message));
    s.on("chat", (message) => this.view.addChat(message, this.peerId));
    s.on("hand", (hand) => this.handChanged(hand));
    s.on("room-state", ({ state }) => state === "ended" && this.end("ended"));
    s.on("error", (error) => this.serverError(error));
    s.connect();
  }

  // --- the signalling connection ---------------------------------------------------------

  async connected() {
    const again = this.everConnected;
    this.everConnected = true;
    this.refusals = 0;
    await this.joinRoom(again);
  }

  /** `join` (on every connect, and again once admitted): the room as this peer sees it. */
  async joinRoom(reconnect) {
    const ack = await this.signalling.request("join");
    if (!ack.ok) {
      this.note(`join: ${ack.error.code}`);
      if (ack.error.code === "room_ended") this.end("ended");
      else this.view.showAlert("join_failed");
      return;
    }
    const data = ack.data;
    this.peerId = data.peer_id;
    this.role = data.role || this.role;
    this.admitted = Boolean(data.admitted);
    for (const message of data.chat || []) this.view.addChat(message, this.peerId);
    if (this.role === "host") {
      this.view.show("admit-panel");
      this.view.show("outcome-panel");
      this.showWaiting(data.waiting || []);
    }
    if (data.state === "ended") return this.end("ended");
    this.view.showAlert(null);
    if (!this.admitted) return this.enterWaiting(data.host_present);
    this.enterCall(data.peers || []);
    if (reconnect) {
      this.view.say("reconnected");
      // Our addresses may have changed with the network: new ICE credentials, new offer.
      for (const link of this.links.values()) link.restartIce();
    }
  }

  disconnected(reason) {
    if (TERMINAL.has(this.state) || reason === "io client disconnect") return;
    this.setState("reconnecting");
    this.view.say("reconnecting");
    // The server closed us (not the network): socket.io does not come back by itself.
    if (reason === "io server disconnect") setTimeout(() => this.reconnect(), 1000);
  }

  reconnect() {
    if (!TERMINAL.has(this.state) && this.signalling && !this.signalling.connected) {
      this.signalling.connect();
    }
  }

  /** A refused connect: an expired or stale token gets a fresh one, a few times. */
  refused(error) {
    const code = error && error.data && error.data.code;
    this.note(`connect_error: ${code || error}`);
    if (TERMINAL.has(this.state)) return;
    if (code === "room_ended") return this.end("ended");
    if (!code && this.signalling.active) return; // the network: socket.io retries itself
    this.refusals += 1;
    if (this.refusals > MAX_TOKEN_REFRESHES) {
      this.view.showAlert("join_failed");
      this.setState("error");
      return;
    }
    this.join = { ...this.join, expires_at: "1970-01-01T00:00:00Z" }; // forces a new join
    setTimeout(() => this.reconnect(), 1000 * this.refusals);
  }

  serverError(error) {
    this.note(`server error: ${error && error.code}`);
    if (error && error.code === "replaced") this.end("replaced");
    else if (error && error.code === "room_ended") this.end("ended");
  }

  // --- waiting room and peers ------------------------------------------------------------

  enterWaiting(hostPresent) {
    this.setState("waiting");
    this.view.show("waiting");
    this.view.show("stage", false);
    this.view.say("waiting");
    this.showHostPresent(hostPresent !== false);
  }

  /** "The doctor knows you are here", or that the doctor has not come in yet. */
  showHostPresent(present) {
    this.hostPresent = present;
    this.view.el("waiting-host").textContent = this.words[present ? "host_present" : "host_absent"];
  }

  /** The host let us in: `join` again, whose ack now has the peers (docs/rtc.md). */
  async wasAdmitted(peers) {
    this.view.say("admitted");
    if (peers) {
      this.admitted = true;
      this.enterCall(peers);
      return;
    }
    await this.joinRoom(false);
  }

  enterCall(peers) {
    this.setState("in-call");
    this.view.show("waiting", false);
    this.view.show("stage");
    this.view.show("chat-panel");
    this.view.el("device-check").open = false;
    this.view.el("local-video").srcObject = this.devices.stream;
    for (const peer of peers) this.addPeer(peer);
    if (this.links.size === 0) this.view.setRemotePlaceholder("alone");
    this.view.say(this.links.size ? "in_call" : "alone");
    this.startSampling();
  }

  nameOf(peerId) {
    return this.names.get(peerId) || "";
  }

  peerJoined(peer) {
    if (!this.admitted || peer.peer_id === this.peerId) return;
    this.addPeer(peer);
    this.view.say("peer_joined", { name: peer.name || "" });
  }

  addPeer(peer) {
    if (!peer || !peer.peer_id || peer.peer_id === this.peerId) return null;
    if (peer.name) this.names.set(peer.peer_id, peer.name);
    this.view.setRemote(this.nameOf(peer.peer_id));
    const existing = this.links.get(peer.peer_id);
    if (existing) return existing;
    const link = this.newLink(peer.peer_id);
    this.links.set(peer.peer_id, link);
    return link;
  }

  newLink(remoteId) {
    const remoteVideo = this.view.el("remote-video");
    return new PeerLink({
      remoteId,
      // Exactly one side of each pair yields when both offer at once.
      polite: this.peerId < remoteId,
      iceServers: this.join.ice_servers || [],
      stream: this.devices.stream,
      send: (type, payload) => this.signalling.request("signal", { to: remoteId, type, payload }),
      onRemoteStream: (stream) => this.showRemote(remoteVideo, stream),
      onRemoteVideoMuted: (stopped) => {
        this.remoteVideoStopped = stopped;
        this.showRemoteVideoState();
      },
      onState: (kind, state) => this.linkState(kind, state),
      onError: (text) => this.note(text),
    });
  }

  showRemote(video, stream) {
    if (video.srcObject !== stream) video.srcObject = stream;
    this.devices.addSink(video);
    this.watchRemoteVideo(video);
    video.play().then(
      () => this.view.show("play-remote-wrap", false),
      () => this.view.show("play-remote-wrap"),
    );
  }

  /** Count whether the remote video shows new frames, once a second. */
  watchRemoteVideo(video) {
    if (this.frameWatch) return;
    let last = -1;
    this.frameWatch = setInterval(() => {
      const frames = video.getVideoPlaybackQuality
        ? video.getVideoPlaybackQuality().totalVideoFrames
        : video.webkitDecodedFrameCount || 0;
      this.remoteStalls = frames > last ? 0 : (this.remoteStalls || 0) + 1;
      last = frames;
      this.showRemoteVideoState();
    }, FRAME_WATCH_MS);
  }

  /** The remote video's placeholder: nobody there, video stopped, or no frames for a while. */
  showRemoteVideoState() {
    if (this.links.size === 0) return this.view.setRemotePlaceholder("alone");
    const frozen = (this.remoteStalls || 0) >= STALLED_CHECKS;
    this.view.setRemotePlaceholder(this.remoteVideoStopped || frozen ? "video_paused" : null);
  }

  linkState(kind, state) {
    if (kind === "ice") {
      this.report({ kind: "ice", state });
      return;
    }
    if (state === "connected") {
      this.mediaConnected = true;
      this.report({ kind: "media", state: "connected" });
      this.view.say("in_call");
    } else if ((state === "disconnected" || state === "failed") && this.mediaConnected) {
      this.mediaConnected = false;
      this.report({ kind: "media", state: "disconnected" });
    }
  }

  peerLeft(peerId) {
    const link = this.links.get(peerId);
    if (link) {
      link.close();
      this.links.delete(peerId);
    }
    this.view.setRemoteHand(false);
    this.view.say("peer_left", { name: this.nameOf(peerId) });
    if (this.links.size === 0) {
      this.view.el("remote-video").srcObject = null;
      this.view.setRemotePlaceholder("alone");
      this.view.setRemote("");
    }
  }

  signalled({ from, type, payload }) {
    if (!this.admitted || !from) return;
    const link = this.links.get(from) || this.addPeer({ peer_id: from });
    if (link) link.receive(type, payload);
  }

  showWaiting(waiting) {
    if (this.role !== "host") return;
    for (const person of waiting) {
      if (!this.waitingIds.has(person.peer_id)) {
        this.view.say("peer_waiting", { name: person.name || "" });
      }
    }
    this.waitingIds = new Set(waiting.map((person) => person.peer_id));
    this.view.showWaiting(waiting, (peerId) => this.admit(peerId));
  }

  async admit(peerId) {
    const ack = await this.signalling.request("admit", { peer_id: peerId });
    if (!ack.ok) this.note(`admit: ${ack.error.code}`);
  }

  handChanged({ peer_id: peerId, raised }) {
    if (peerId === this.peerId) return;
    this.view.setRemoteHand(Boolean(raised));
    this.view.say(raised ? "hand_raised" : "hand_lowered", { name: this.nameOf(peerId) });
  }

  // --- link quality ----------------------------------------------------------------------

  startSampling() {
    if (this.timer) return;
    this.timer = setInterval(() => this.sampleLinks().catch((e) => this.note(e)), SAMPLE_MS);
  }

  async sampleLinks() {
    const sendingVideo = !this.audioOnly && !this.cameraOff && Boolean(this.devices.track("video"));
    for (const link of this.links.values()) {
      const result = await link.measure(sendingVideo);
      if (!result) continue;
      this.lastQuality = result.sample;
      this.view.setQuality(grade(result.sample), result.sample);
      if (result.sample.measured && performance.now() - this.lastReportAt >= REPORT_MS) {
        this.lastReportAt = performance.now();
        this.report(qualityReport(result.sample));
      }
      if (result.decision.audioOnly && !this.audioOnly) {
        await this.controls.setAudioOnly(true, "auto");
      }
    }
  }

  /** A `report` for the room's event log; counted by kind once acknowledged. */
  async report(payload) {
    if (!this.signalling || !this.signalling.connected) return;
    const ack = await this.signalling.request("report", payload);
    if (ack.ok) this.reports[payload.kind] = (this.reports[payload.kind] || 0) + 1;
    else this.note(`report ${payload.kind}: ${ack.error.code}`);
  }

  // --- the end ---------------------------------------------------------------------------

  end(reason) {
    if (TERMINAL.has(this.state)) return;
    clearInterval(this.timer);
    clearInterval(this.frameWatch);
    for (const link of this.links.values()) link.close();
    this.links.clear();
    if (this.signalling) this.signalling.close();
    this.devices.stop();
    this.setState(reason === "left" || reason === "ended" || reason === "replaced" ? reason : "error");
    for (const id of ["stage", "waiting", "chat-panel", "admit-panel", "device-check"]) {
      this.view.show(id, false);
    }
    // The host may still record the outcome after leaving, and sees that it was saved.
    const outcome = this.role === "host" && (reason !== "ended" || this.outcomeSaved);
    this.view.show("outcome-panel", outcome);
    if (reason === "left" || reason === "ended") this.view.say(reason);
    else this.view.showAlert(reason);
    this.view.show("after", reason !== "not_found");
  }
}
