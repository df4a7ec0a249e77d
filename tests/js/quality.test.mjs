// Unit tests of web/static/js/call/quality.js (run by tests/unit/test_call_js.py with
// `node --test`): the stats arithmetic and the thresholds stated in docs/rtc.md.

import assert from "node:assert/strict";
import test from "node:test";

import {
  LinkJudge,
  grade,
  qualityReport,
  sample,
  totals,
} from "../../web/static/js/call/quality.js";

/** A stats report (a Map, as RTCStatsReport is map-like) from plain entries. */
function report(entries) {
  return new Map(entries.map((entry) => [entry.id, entry]));
}

function linkStats({ inBytes, received, lost, outBytes, rtt, available, fractionLost = 0 }) {
  return report([
    { id: "t", type: "transport", selectedCandidatePairId: "p" },
    { id: "p", type: "candidate-pair", currentRoundTripTime: rtt, availableOutgoingBitrate: available },
    { id: "iv", type: "inbound-rtp", kind: "video", bytesReceived: inBytes, packetsReceived: received,
      packetsLost: lost, frameWidth: 640, frameHeight: 480, framesPerSecond: 24, framesDecoded: 100 },
    { id: "ov", type: "outbound-rtp", kind: "video", bytesSent: outBytes },
    { id: "rv", type: "remote-inbound-rtp", kind: "video", fractionLost, roundTripTime: rtt },
  ]);
}

/** Two samples 10 s apart; the second with the given loss and available bitrate. */
function measured({ lossPct = 0, availableKbps = 1000, rttMs = 50 } = {}) {
  const before = totals(linkStats({ inBytes: 0, received: 0, lost: 0, outBytes: 0, rtt: 0.05, available: 1e6 }), 0);
  const lost = lossPct;
  const now = totals(
    linkStats({ inBytes: 625000, received: 100 - lost, lost, outBytes: 625000, rtt: rttMs / 1000,
                available: availableKbps * 1000 }),
    10000,
  );
  return sample(now, before);
}

test("a sample has the report's fields, with rates over the interval", () => {
  const s = measured({ lossPct: 4, rttMs: 120 });
  assert.equal(s.rtt_ms, 120);
  assert.equal(s.loss_pct, 4);
  assert.equal(s.bitrate_kbps, 500); // 625000 bytes in 10 s
  assert.deepEqual(qualityReport(s), {
    kind: "quality", rtt_ms: 120, loss_pct: 4, bitrate_kbps: 500, width: 640, height: 480, fps: 24,
  });
});

test("the first sample has no rates and decides nothing", () => {
  const first = sample(totals(linkStats({ inBytes: 9, received: 9, lost: 0, outBytes: 9, rtt: 0.05, available: 1e5 }), 0), null);
  assert.equal(first.measured, false);
  assert.equal(grade(first), "unknown");
  const decision = new LinkJudge().judge(first, true);
  assert.deepEqual(decision, { capKbps: 500, scaleDown: 1, audioOnly: false, reason: null });
});

test("grades: good, fair, poor", () => {
  assert.equal(grade(measured()), "good");
  assert.equal(grade(measured({ lossPct: 5 })), "fair");
  assert.equal(grade(measured({ rttMs: 400 })), "fair");
  assert.equal(grade(measured({ lossPct: 11 })), "poor");
  assert.equal(grade(measured({ availableKbps: 100 })), "poor");
});

test("a weak sample halves the cap; two good ones restore it", () => {
  const judge = new LinkJudge();
  assert.equal(judge.judge(measured({ lossPct: 6 }), true).capKbps, 250);
  assert.equal(judge.judge(measured(), true).capKbps, 250);
  const back = judge.judge(measured(), true);
  assert.equal(back.capKbps, 500);
  assert.equal(back.scaleDown, 1);
});

test("sound only after two samples in a row that cannot carry video", () => {
  const judge = new LinkJudge();
  assert.equal(judge.judge(measured({ lossPct: 12 }), true).audioOnly, false);
  const second = judge.judge(measured({ lossPct: 12 }), true);
  assert.equal(second.audioOnly, true);
  assert.equal(second.reason, "loss");
});

test("one bad sample between good ones does not switch", () => {
  const judge = new LinkJudge();
  judge.judge(measured({ availableKbps: 100 }), true);
  judge.judge(measured(), true);
  assert.equal(judge.judge(measured({ availableKbps: 100 }), true).audioOnly, false);
});

test("a low available bitrate counts only while video is sent", () => {
  const judge = new LinkJudge();
  judge.judge(measured({ availableKbps: 100 }), false);
  assert.equal(judge.judge(measured({ availableKbps: 100 }), false).audioOnly, false);
  judge.judge(measured({ availableKbps: 100 }), true);
  const decision = judge.judge(measured({ availableKbps: 100 }), true);
  assert.equal(decision.audioOnly, true);
  assert.equal(decision.reason, "bitrate");
});
