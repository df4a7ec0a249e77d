// The device check: camera preview, microphone level meter (WebAudio analyser), a test
// sound on the chosen speaker, and the pickers. It owns the local MediaStream the call
// sends; a changed device swaps one track in it and tells the call (`onTrackChange`).

const TONE_HZ = 660;
const TONE_SECONDS = 0.8;
const SAMPLE_RATE = 22050;

/** A short sine tone as a WAV file (a test sound without an extra asset). */
export function toneWav(hz = TONE_HZ, seconds = TONE_SECONDS, rate = SAMPLE_RATE) {
  const count = Math.floor(rate * seconds);
  const buffer = new ArrayBuffer(44 + count * 2);
  const view = new DataView(buffer);
  const ascii = (offset, text) => {
    for (let i = 0; i < text.length; i += 1) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + count * 2, true);
  ascii(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, count * 2, true);
  for (let i = 0; i < count; i += 1) {
    const fade = Math.min(1, i / 400, (count - i) / 400); // no clicks at either end
    const value = Math.sin((2 * Math.PI * hz * i) / rate) * 0.4 * fade;
    view.setInt16(44 + i * 2, Math.round(value * 32767), true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

const PICKERS = { videoinput: "camera", audioinput: "microphone", audiooutput: "speaker" };

export class DeviceCheck {
  /** `els`: preview, meter, camera, microphone, speaker, testSpeaker, problem, retry. */
  constructor(els, words, callbacks) {
    this.els = els;
    this.words = words;
    this.callbacks = callbacks; // onTrackChange(kind, track), onProblem(text)
    this.stream = new MediaStream();
    this.sinks = new Set();
    this.speakerId = "";
    this.audioContext = null;
    this.meterSource = null;
    this.videoWanted = true;
    this.levelLoop = null;
    els.camera.addEventListener("change", () => this.switchDevice("video"));
    els.microphone.addEventListener("change", () => this.switchDevice("audio"));
    els.speaker.addEventListener("change", () => this.setSpeaker(els.speaker.value));
    els.testSpeaker.addEventListener("click", () => this.playTestSound());
    if (!("setSinkId" in HTMLMediaElement.prototype)) els.speaker.disabled = true;
    // The analyser's AudioContext may start suspended until the user touches the page.
    document.addEventListener("pointerdown", () => this.audioContext?.resume(), { once: true });
    document.addEventListener("keydown", () => this.audioContext?.resume(), { once: true });
  }

  /** Ask for camera and microphone; falls back to the microphone alone, then to nothing. */
  async start() {
    let stream = null;
    let problem = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia(this.constraints(true, true));
    } catch {
      try {
        stream = await navigator.mediaDevices.getUserMedia(this.constraints(true, false));
        problem = this.words.audio_fallback;
      } catch {
        problem = this.words.media_failed;
      }
    }
    if (stream) {
      for (const track of stream.getTracks()) this.putTrack(track);
    }
    this.showProblem(problem);
    this.els.preview.srcObject = this.stream;
    this.startMeter();
    await this.fillPickers();
    return this.stream;
  }

  constraints(audio, video) {
    const pick = (select) => (select.value ? { deviceId: { exact: select.value } } : true);
    return {
      audio: audio ? pick(this.els.microphone) : false,
      video: video
        ? { ...(this.els.camera.value ? { deviceId: { exact: this.els.camera.value } } : {}),
            width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { max: 24 } }
        : false,
    };
  }

  showProblem(text) {
    this.els.problem.textContent = text || "";
    this.els.problem.hidden = !text;
    this.els.retry.hidden = text !== this.words.media_failed;
    if (text) this.callbacks.onProblem(text);
  }

  track(kind) {
    return this.stream.getTracks().find((t) => t.kind === kind) || null;
  }

  /** Put `track` in the stream in place of the one of its kind (which is stopped). */
  putTrack(track) {
    const old = this.track(track.kind);
    if (old === track) return;
    if (old) {
      this.stream.removeTrack(old);
      old.stop();
    }
    this.stream.addTrack(track);
  }

  async fillPickers() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    for (const [kind, name] of Object.entries(PICKERS)) {
      const select = this.els[name];
      const trackKind = kind === "videoinput" ? "video" : "audio";
      const current =
        kind === "audiooutput" ? this.speakerId : this.track(trackKind)?.getSettings().deviceId;
      select.replaceChildren();
      const found = devices.filter((d) => d.kind === kind);
      if (found.length === 0 || kind === "audiooutput") {
        select.append(new Option(this.words.default_device, ""));
      }
      found.forEach((device, index) => {
        if (kind === "audiooutput" && device.deviceId === "default") return;
        const label = device.label || this.words.device.replace("%(n)s", String(index + 1));
        select.append(new Option(label, device.deviceId, false, device.deviceId === current));
      });
    }
  }

  async switchDevice(kind) {
    if (kind === "video" && !this.videoWanted) return;
    try {
      const fresh = await navigator.mediaDevices.getUserMedia(
        this.constraints(kind === "audio", kind === "video"),
      );
      const track = fresh.getTracks()[0];
      this.putTrack(track);
      if (kind === "audio") this.startMeter();
      this.els.preview.srcObject = this.stream;
      await this.callbacks.onTrackChange(kind, track);
      this.showProblem(null);
    } catch {
      this.showProblem(this.words.media_failed);
    }
  }

  /** `false`: the camera is released (its light goes off); `true` asks for it again. */
  async setVideo(on) {
    this.videoWanted = on;
    if (!on) {
      const video = this.track("video");
      if (video) {
        this.stream.removeTrack(video);
        video.stop();
      }
      return null;
    }
    try {
      const fresh = await navigator.mediaDevices.getUserMedia(this.constraints(false, true));
      const track = fresh.getVideoTracks()[0];
      this.putTrack(track);
      this.els.preview.srcObject = this.stream;
      return track;
    } catch {
      this.showProblem(this.words.media_failed);
      return null;
    }
  }

  /** Media elements whose output follows the speaker picker. */
  addSink(element) {
    this.sinks.add(element);
    if (this.speakerId && element.setSinkId) element.setSinkId(this.speakerId).catch(() => {});
  }

  setSpeaker(id) {
    this.speakerId = id;
    for (const element of this.sinks) {
      if (element.setSinkId) element.setSinkId(id).catch(() => {});
    }
  }

  async playTestSound() {
    const audio = new Audio(URL.createObjectURL(toneWav()));
    if (this.speakerId && audio.setSinkId) await audio.setSinkId(this.speakerId).catch(() => {});
    audio.addEventListener("ended", () => URL.revokeObjectURL(audio.src), { once: true });
    await audio.play().catch(() => {});
  }

  startMeter() {
    const track = this.track("audio");
    if (!track || !window.AudioContext) return;
    if (!this.audioContext) this.audioContext = new AudioContext();
    this.meterSource?.disconnect();
    const analyser = this.audioContext.createAnalyser();
    analyser.fftSize = 512;
    this.meterSource = this.audioContext.createMediaStreamSource(new MediaStream([track]));
    this.meterSource.connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    cancelAnimationFrame(this.levelLoop);
    const draw = () => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const value of data) sum += value * value;
      // RMS on a rough perceptual scale: ordinary speech fills about half the bar.
      this.els.meter.value = Math.min(1, Math.sqrt(sum / data.length) * 4);
      this.levelLoop = requestAnimationFrame(draw);
    };
    draw();
  }

  /** Release the camera and microphone (leaving the call). */
  stop() {
    cancelAnimationFrame(this.levelLoop);
    this.meterSource?.disconnect();
    this.audioContext?.close().catch(() => {});
    this.audioContext = null;
    for (const track of this.stream.getTracks()) track.stop();
  }
}
