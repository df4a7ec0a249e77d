// The call's controls: mute, camera off, sound only (by the button or the link judge),
// raise hand, chat, device changes and leaving. The state they change lives on the room
// (CallRoom), which the page exposes read-only as window.telehealthCall.

import { OutcomeForm } from "./outcome.js";

export class CallControls {
  constructor(room) {
    this.room = room;
  }

  bind() {
    const on = (id, handler) => this.room.view.el(id).addEventListener("click", handler);
    on("btn-mute", () => this.setMuted(!this.room.muted));
    on("btn-camera", () => this.setCameraOff(!this.room.cameraOff));
    on("btn-audio-only", () => this.setAudioOnly(!this.room.audioOnly, "user"));
    on("btn-hand", () => this.raiseHand(!this.room.handRaised));
    on("btn-leave", () => this.leave());
    on("play-remote", () => {
      const video = this.room.view.el("remote-video");
      this.room.showRemote(video, video.srcObject);
    });
    this.room.view.el("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
    const form = this.room.view.el("outcome-form");
    new OutcomeForm(form, this.room.roomId, this.room.words, () => {
      this.room.outcomeSaved = true;
    });
  }

  setMuted(muted) {
    this.room.muted = muted;
    const track = this.room.devices.track("audio");
    if (track) track.enabled = !muted;
    this.room.view.toggle("btn-mute", muted, muted ? "unmute" : "mute");
  }

  setCameraOff(off) {
    if (this.room.audioOnly) return;
    this.room.cameraOff = off;
    const track = this.room.devices.track("video");
    if (track) track.enabled = !off;
    this.room.view.toggle("btn-camera", off, off ? "camera_on" : "camera_off");
  }

  /** Sound only, by the button or by the link judge: video stops, sound goes on. */
  async setAudioOnly(on, reason) {
    if (on === this.room.audioOnly) return;
    this.room.audioOnly = on;
    this.room.view.toggle("btn-audio-only", on, on ? "video_back" : "audio_only");
    this.room.view.el("btn-camera").disabled = on;
    const track = await this.room.devices.setVideo(!on);
    if (track) track.enabled = !this.room.cameraOff;
    for (const link of this.room.links.values()) {
      link.judge.reset();
      await link.setAudioOnly(on, track);
    }
    this.room.view.el("local-video").srcObject = this.room.devices.stream;
    this.room.report({ kind: "audio_only", on, reason });
    if (reason === "auto") this.room.view.say("auto_audio_only");
  }

  async raiseHand(raised) {
    this.room.handRaised = raised;
    this.room.view.toggle("btn-hand", raised, raised ? "lower_hand" : "raise_hand");
    const ack = await this.room.signalling.request("hand", { raised });
    if (!ack.ok) this.room.note(`hand: ${ack.error.code}`);
  }

  async sendChat() {
    const input = this.room.view.el("chat-text");
    const text = input.value.trim();
    const error = this.room.view.el("chat-error");
    if (!text) return;
    const ack = await this.room.signalling.request("chat", { text });
    error.hidden = ack.ok;
    error.textContent = ack.ok ? "" : this.room.words.chat_failed;
    if (!ack.ok) return;
    input.value = "";
    const { message_id: id, at } = ack.data;
    const me = this.room.peerId;
    this.room.view.addChat({ message_id: id, at, text, peer_id: me }, me);
  }

  async trackChanged(kind, track) {
    if (kind === "audio") track.enabled = !this.room.muted;
    if (kind === "video") track.enabled = !this.room.cameraOff;
    for (const link of this.room.links.values()) await link.replaceTrack(kind, track);
    this.room.view.el("local-video").srcObject = this.room.devices.stream;
  }

  async retryMedia() {
    const stream = await this.room.devices.start();
    for (const track of stream.getTracks()) await this.trackChanged(track.kind, track);
  }

  async leave() {
    const signalling = this.room.signalling;
    if (signalling && signalling.connected) await signalling.request("leave");
    this.room.end("left");
  }
}
