// The call page's DOM: status and alerts, the buttons' pressed states, the chat log, the
// admit list and the quality indicator. Text goes in with textContent only, never HTML.

/** Fill `%(name)s` placeholders of a translated string. */
export function fill(template, values = {}) {
  return Object.entries(values).reduce(
    (text, [name, value]) => text.split(`%(${name})s`).join(String(value)),
    template,
  );
}

const TIME = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
  hour: "2-digit",
  minute: "2-digit",
});

/** "14:05" in the viewer's time zone, or "" for an unreadable time. */
export function clock(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : TIME.format(when);
}

export class CallView {
  constructor(root, words) {
    this.root = root;
    this.words = words;
    this.byId = (id) => document.getElementById(id);
    this.status = this.byId("call-status");
    this.alert = this.byId("call-alert");
    this.lastStatus = "";
  }

  el(id) {
    return this.byId(id);
  }

  /** The page's state, also as data-state on the root (for styles and tests). */
  setState(state) {
    this.root.dataset.state = state;
  }

  say(key, values) {
    const text = fill(this.words[key] || key, values);
    // The same sentence twice would not be announced again; a status is news only once.
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.status.textContent = text;
  }

  showAlert(key, values) {
    this.alert.textContent = key ? fill(this.words[key] || key, values) : "";
    this.alert.hidden = !key;
  }

  show(id, visible = true) {
    const element = this.byId(id);
    if (element) element.hidden = !visible;
  }

  /** A toggle button: aria-pressed and its label for the next press. */
  toggle(id, pressed, label) {
    const button = this.byId(id);
    button.setAttribute("aria-pressed", pressed ? "true" : "false");
    button.textContent = this.words[label];
  }

  setRemote(name) {
    this.byId("remote-label").textContent = name || "";
  }

  setRemotePlaceholder(key) {
    const placeholder = this.byId("remote-placeholder");
    placeholder.hidden = !key;
    if (key) placeholder.textContent = this.words[key];
  }

  setRemoteHand(raised) {
    this.byId("remote-hand").hidden = !raised;
  }

  /** Add one chat message unless it is shown already (our own comes back as an event). */
  addChat(message, ownPeerId) {
    const log = this.byId("chat-log");
    const id = String(message.message_id || "");
    if (id && log.querySelector(`[data-message-id="${CSS.escape(id)}"]`)) return;
    const item = document.createElement("li");
    item.dataset.messageId = id;
    if (message.peer_id === ownPeerId) item.classList.add("own");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.peer_id === ownPeerId ? this.words.you : message.name || "";
    const at = document.createElement("time");
    at.dateTime = message.at || "";
    at.textContent = clock(message.at);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    item.append(who, " ", at, text);
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  /** The host's admit list: who waits, since when, and a button for each. */
  showWaiting(waiting, onAdmit) {
    const list = this.byId("admit-list");
    list.replaceChildren();
    for (const person of waiting) {
      const item = document.createElement("li");
      item.dataset.peerId = person.peer_id;
      const name = document.createElement("strong");
      name.textContent = person.name || "";
      const since = document.createElement("span");
      since.className = "meta";
      since.textContent = fill(this.words.waiting_since, { time: clock(person.since) });
      const button = document.createElement("button");
      button.type = "button";
      button.className = "admit";
      button.dataset.testid = "admit";
      button.dataset.peerId = person.peer_id;
      button.textContent = fill(this.words.admit, { name: person.name || "" });
      button.addEventListener("click", () => {
        button.disabled = true;
        onAdmit(person.peer_id).finally(() => {
          button.disabled = false;
        });
      });
      item.append(name, " ", since, button);
      list.append(item);
    }
    this.show("admit-empty", waiting.length === 0);
  }

  /** The indicator: a word for everyone, the figures for those who want them. */
  setQuality(level, s) {
    const quality = this.byId("quality");
    quality.dataset.level = level;
    let text = this.words[`quality_${level}`] || this.words.quality_unknown;
    if (s && s.measured) text += ` (${s.rtt_ms} ms, ${s.loss_pct} %)`;
    quality.textContent = text;
  }
}
