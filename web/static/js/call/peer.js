// One browser-to-browser link of a mesh room: an RTCPeerConnection negotiated with the
// "perfect negotiation" pattern over `signal` (offer / answer / candidate), candidates
// trickled as they come, ICE restarts after a reconnect, a capped sending bitrate, and
// link samples from getStats().

import { LinkJudge, VIDEO_KBPS, sample, totals } from "./quality.js";

/**
 * `options`: remoteId, polite (the side that yields when both offer at once), iceServers,
 * stream (the local MediaStream), send(type, payload) -> Promise<envelope>, and callbacks
 * onRemoteStream(stream), onRemoteVideoMuted(muted), onState(kind, state), onError(text).
 */
export class PeerLink {
  constructor(options) {
    this.options = options;
    this.remoteId = options.remoteId;
    this.polite = options.polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.incoming = Promise.resolve();
    this.remoteStream = new MediaStream();
    this.judge = new LinkJudge();
    this.cap = { capKbps: VIDEO_KBPS, scaleDown: 1 };
    this.lastTotals = null;
    this.audioOnly = false;
    this.counts = { offers: 0, answers: 0, candidatesSent: 0, candidatesReceived: 0, ignored: 0 };
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers || [],
      bundlePolicy: "max-bundle",
    });
    this.wire();
    for (const track of options.stream.getTracks()) this.pc.addTrack(track, options.stream);
    // The impolite side opens the first negotiation, so it needs something to offer even
    // without a camera or microphone of its own.
    if (!this.polite) {
      for (const kind of ["audio", "video"]) {
        if (!this.transceiverOf(kind)) this.pc.addTransceiver(kind, { direction: "recvonly" });
      }
    }
  }

  wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = () => this.offer();
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return;
      this.counts.candidatesSent += 1;
      this.options.send("candidate", candidate.toJSON());
    };
    pc.ontrack = ({ track }) => this.addRemoteTrack(track);
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      this.options.onState("ice", state);
      if (state === "failed") pc.restartIce();
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === "connected") this.applyCap();
      this.options.onState("connection", state);
    };
    pc.onsignalingstatechange = () => {
      if (pc.signalingState !== "stable") return;
      this.applyCap();
      this.reportRemoteVideo();
    };
  }

  addRemoteTrack(track) {
    for (const old of this.remoteStream.getTracks()) {
      if (old.kind === track.kind && old !== track) this.remoteStream.removeTrack(old);
    }
    if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
    if (track.kind === "video") {
      track.onmute = () => this.reportRemoteVideo();
      track.onunmute = () => this.reportRemoteVideo();
    }
    this.options.onRemoteStream(this.remoteStream);
    this.reportRemoteVideo();
  }

  /**
   * Whether the last negotiation stopped the other side's video (sound only on either
   * side). Frames that stop for other reasons are noticed by the page itself: a track's
   * `mute` may lag or never come.
   */
  reportRemoteVideo() {
    const transceiver = this.transceiverOf("video");
    if (!transceiver || this.closed) return;
    const direction = transceiver.currentDirection;
    const receiving = !direction || direction === "sendrecv" || direction === "recvonly";
    this.options.onRemoteVideoMuted(!receiving);
  }

  async offer() {
    if (this.closed) return;
    // Both sides add their tracks at once, and both would offer. Chromium can stall ICE
    // gathering on the side that rolls its offer back (seen here in about one call in four),
    // so the polite side waits for the first offer; its tracks join that answer, and it
    // offers itself only later (an ICE restart, sound only, a new device).
    if (this.polite && !this.pc.remoteDescription) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const answer = await this.options.send("offer", this.description());
      if (!answer.ok) this.options.onError(`offer: ${answer.error.code}`);
    } catch (error) {
      this.options.onError(`offer: ${error}`);
    } finally {
      this.makingOffer = false;
    }
  }

  description() {
    const { type, sdp } = this.pc.localDescription;
    return { type, sdp };
  }

  /** A `signal` from the other side; handled strictly one after another. */
  receive(type, payload) {
    this.incoming = this.incoming
      .then(() => this.handle(type, payload))
      .catch((error) => this.options.onError(`${type}: ${error}`));
    return this.incoming;
  }

  async handle(type, payload) {
    if (this.closed || !payload) return;
    if (type === "candidate") {
      this.counts.candidatesReceived += 1;
      try {
        await this.pc.addIceCandidate(payload);
      } catch (error) {
        if (!this.ignoreOffer) throw error;
      }
      return;
    }
    if (type !== "offer" && type !== "answer") return;
    const collision =
      type === "offer" && (this.makingOffer || this.pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) {
      this.counts.ignored += 1;
      return;
    }
    this.counts[type === "offer" ? "offers" : "answers"] += 1;
    await this.pc.setRemoteDescription({ type, sdp: payload.sdp });
    if (type === "offer") {
      await this.pc.setLocalDescription();
      await this.options.send("answer", this.description());
    }
  }

  /** After our signalling connection came back: new ICE credentials, a new offer. */
  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  transceiverOf(kind) {
    return this.pc
      .getTransceivers()
      .find((t) => !t.stopped && t.receiver.track && t.receiver.track.kind === kind);
  }

  /** Swap the track of one kind (a device change) without renegotiating. */
  async replaceTrack(kind, track) {
    if (kind === "video" && this.audioOnly) return;
    const transceiver = this.transceiverOf(kind);
    if (!transceiver) {
      if (track) this.pc.addTrack(track, this.options.stream);
      return;
    }
    await transceiver.sender.replaceTrack(track);
    if (track && transceiver.direction === "recvonly") transceiver.direction = "sendrecv";
  }

  /**
   * Sound only: video stops in both directions (the transceiver goes inactive, which the
   * other side sees as its remote video muting); `track` resumes it.
   */
  async setAudioOnly(on, track) {
    this.audioOnly = on;
    const transceiver = this.transceiverOf("video");
    if (!transceiver) {
      if (!on && track) this.pc.addTrack(track, this.options.stream);
      return;
    }
    await transceiver.sender.replaceTrack(on ? null : track || null);
    transceiver.direction = on ? "inactive" : "sendrecv";
  }

  /** Set the video sender's bitrate cap and resolution scale (no renegotiation needed). */
  async applyCap(cap = this.cap) {
    this.cap = cap;
    const sender = this.transceiverOf("video")?.sender;
    if (!sender || !sender.track) return;
    const parameters = sender.getParameters();
    if (!parameters.encodings || parameters.encodings.length === 0) return;
    for (const encoding of parameters.encodings) {
      encoding.maxBitrate = cap.capKbps * 1000;
      encoding.scaleResolutionDownBy = cap.scaleDown;
    }
    try {
      await sender.setParameters(parameters);
    } catch (error) {
      this.options.onError(`bitrate cap: ${error}`);
    }
  }

  /** What the link is doing, for tests and debugging. */
  describe() {
    const pc = this.pc;
    return {
      polite: this.polite,
      connection: pc.connectionState,
      ice: pc.iceConnectionState,
      gathering: pc.iceGatheringState,
      signaling: pc.signalingState,
      ...this.counts,
    };
  }

  /** The current bitrate cap in kbps, as the sender has it (for tests and the indicator). */
  sendingCapKbps() {
    const sender = this.transceiverOf("video")?.sender;
    const encodings = sender ? sender.getParameters().encodings || [] : [];
    return encodings.length && encodings[0].maxBitrate ? encodings[0].maxBitrate / 1000 : null;
  }

  /** One link sample and the judge's decision for it (null when the link is closed). */
  async measure(sendingVideo) {
    if (this.closed) return null;
    const report = await this.pc.getStats();
    const now = totals(report, performance.now());
    const s = sample(now, this.lastTotals);
    this.lastTotals = now;
    const decision = this.judge.judge(s, sendingVideo);
    if (decision.capKbps !== this.cap.capKbps || decision.scaleDown !== this.cap.scaleDown) {
      await this.applyCap({ capKbps: decision.capKbps, scaleDown: decision.scaleDown });
    }
    return { sample: s, decision };
  }

  close() {
    this.closed = true;
    this.pc.onnegotiationneeded = null;
    this.pc.onicecandidate = null;
    this.pc.close();
    for (const track of this.remoteStream.getTracks()) track.stop();
  }
}
