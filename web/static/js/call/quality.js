// Link quality from RTCPeerConnection.getStats(): one sample per interval, its grade for
// the indicator, the sending bitrate cap, and the automatic switch to sound only. The
// thresholds are the ones stated in docs/rtc.md ("Link quality and sound only").

export const SAMPLE_MS = 10000; // how often the link is sampled
export const REPORT_MS = 30000; // how often a `quality` report goes to the server
export const VIDEO_KBPS = 500; // video sending cap on a good link
export const WEAK_VIDEO_KBPS = 250; // ... and on a weak one, at half the resolution
export const WEAK_LOSS_PCT = 5;
export const WEAK_AVAILABLE_KBPS = 300;
export const NO_VIDEO_LOSS_PCT = 10; // above this, the link cannot carry video
export const NO_VIDEO_AVAILABLE_KBPS = 150; // below this, likewise
export const BAD_SAMPLES_FOR_AUDIO_ONLY = 2; // consecutive samples before switching
export const GOOD_SAMPLES_FOR_FULL_VIDEO = 2; // consecutive samples before lifting the cap

const num = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

function selectedPair(report) {
  let pair = null;
  report.forEach((stat) => {
    if (stat.type === "transport" && stat.selectedCandidatePairId) {
      pair = report.get(stat.selectedCandidatePairId) || pair;
    }
  });
  if (pair) return pair;
  report.forEach((stat) => {
    if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") pair = stat;
  });
  return pair;
}

/** Totals of one stats report (counters only; rates come from two of them). */
export function totals(report, at) {
  const t = { at, inBytes: 0, outBytes: 0, received: 0, lost: 0, remoteLoss: null, rtt: null };
  t.video = { width: 0, height: 0, fps: 0, framesDecoded: 0 };
  report.forEach((stat) => {
    if (stat.type === "inbound-rtp") {
      t.inBytes += num(stat.bytesReceived) || 0;
      t.received += num(stat.packetsReceived) || 0;
      t.lost += Math.max(0, num(stat.packetsLost) || 0);
      if (stat.kind === "video") {
        t.video = {
          width: num(stat.frameWidth) || 0,
          height: num(stat.frameHeight) || 0,
          fps: num(stat.framesPerSecond) || 0,
          framesDecoded: num(stat.framesDecoded) || 0,
        };
      }
    } else if (stat.type === "outbound-rtp") {
      t.outBytes += num(stat.bytesSent) || 0;
    } else if (stat.type === "remote-inbound-rtp") {
      // What the other side says it lost of what we send (0..1).
      const lost = num(stat.fractionLost);
      if (lost !== null) t.remoteLoss = Math.max(t.remoteLoss || 0, lost);
      const rtt = num(stat.roundTripTime);
      if (rtt !== null && t.rtt === null) t.rtt = rtt * 1000;
    }
  });
  const pair = selectedPair(report);
  if (pair) {
    const rtt = num(pair.currentRoundTripTime);
    if (rtt !== null) t.rtt = rtt * 1000;
    t.available = num(pair.availableOutgoingBitrate);
  }
  return t;
}

/** One sample: the `quality` report's fields and what the decisions below need. */
export function sample(now, before) {
  const seconds = before ? Math.max(0.001, (now.at - before.at) / 1000) : null;
  const received = before ? now.received - before.received : now.received;
  const lost = before ? now.lost - before.lost : now.lost;
  const inLoss = received + lost > 0 ? (100 * Math.max(0, lost)) / (received + lost) : 0;
  const outLoss = now.remoteLoss === null ? 0 : 100 * now.remoteLoss;
  const kbps = (bytes) => (seconds ? Math.max(0, (8 * bytes) / seconds / 1000) : 0);
  return {
    rtt_ms: Math.round(clamp(now.rtt ?? 0, 0, 60000)),
    loss_pct: Math.round(clamp(Math.max(inLoss, outLoss), 0, 100) * 10) / 10,
    bitrate_kbps: Math.round(kbps(before ? now.inBytes - before.inBytes : 0)),
    sending_kbps: Math.round(kbps(before ? now.outBytes - before.outBytes : 0)),
    available_kbps: now.available == null ? null : Math.round(now.available / 1000),
    width: now.video.width,
    height: now.video.height,
    fps: Math.round(clamp(now.video.fps, 0, 240)),
    frames_decoded: now.video.framesDecoded,
    measured: Boolean(before),
  };
}

/** The `report {kind: "quality"}` payload of a sample (bounded numbers only). */
export function qualityReport(s) {
  return {
    kind: "quality",
    rtt_ms: s.rtt_ms,
    loss_pct: s.loss_pct,
    bitrate_kbps: s.bitrate_kbps,
    width: s.width,
    height: s.height,
    fps: s.fps,
  };
}

/** "good", "fair" or "poor" for the indicator; "unknown" before the first rates. */
export function grade(s) {
  if (!s || !s.measured) return "unknown";
  const available = s.available_kbps;
  if (s.loss_pct > NO_VIDEO_LOSS_PCT || s.rtt_ms > 800) return "poor";
  if (available !== null && available < NO_VIDEO_AVAILABLE_KBPS) return "poor";
  if (s.loss_pct > 3 || s.rtt_ms > 300) return "fair";
  if (available !== null && available < WEAK_AVAILABLE_KBPS) return "fair";
  return "good";
}

/**
 * Decides, sample by sample, the video sending cap and whether to fall back to sound only.
 * `sendingVideo` says whether the camera is being sent: the available bitrate means
 * little while only sound goes out, so it is judged only then.
 */
export class LinkJudge {
  constructor() {
    this.bad = 0;
    this.good = 0;
    this.weak = false;
  }

  /** {capKbps, scaleDown, audioOnly, reason} after one sample. */
  judge(s, sendingVideo) {
    if (!s.measured) return this.decision(false, null);
    const available = sendingVideo ? s.available_kbps : null;
    const cannotCarry =
      s.loss_pct > NO_VIDEO_LOSS_PCT ||
      (available !== null && available < NO_VIDEO_AVAILABLE_KBPS);
    const weak =
      cannotCarry || s.loss_pct > WEAK_LOSS_PCT || (available !== null && available < WEAK_AVAILABLE_KBPS);
    this.bad = cannotCarry ? this.bad + 1 : 0;
    this.good = weak ? 0 : this.good + 1;
    if (weak) this.weak = true;
    else if (this.good >= GOOD_SAMPLES_FOR_FULL_VIDEO) this.weak = false;
    const audioOnly = sendingVideo && this.bad >= BAD_SAMPLES_FOR_AUDIO_ONLY;
    const reason = s.loss_pct > NO_VIDEO_LOSS_PCT ? "loss" : "bitrate";
    return this.decision(audioOnly, audioOnly ? reason : null);
  }

  decision(audioOnly, reason) {
    return {
      capKbps: this.weak ? WEAK_VIDEO_KBPS : VIDEO_KBPS,
      scaleDown: this.weak ? 2 : 1,
      audioOnly,
      reason,
    };
  }

  /** Start counting afresh (after a switch, a reconnect). */
  reset() {
    this.bad = 0;
    this.good = 0;
  }
}
