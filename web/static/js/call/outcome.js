// The host's outcome form: POST /api/v1/rooms/{id}/outcome as JSON, with one
// Idempotency-Key per filled-in form so that a retry after a lost answer records the
// outcome once. Network failures and 5xx answers are retried; a 4xx answer is final.

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A new idempotency key (random UUID; a fallback for browsers without randomUUID). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The request body from the form's fields (docs/rtc.md, rooms/schemas.py OutcomeIn). */
export function outcomeBody(form) {
  const value = (name) => (form.elements[name]?.value || "").trim();
  const body = {
    summary: value("summary"),
    diagnosis: { code: value("diagnosis_code").toUpperCase(), text: value("diagnosis_text") },
    plan: value("plan"),
    prescriptions: value("prescriptions"),
    disposition: value("disposition"),
    follow_up: value("follow_up"),
  };
  return body;
}

/** POST with retries; resolves to {status, body} of the final answer, or {status: 0}. */
export async function postOutcome(roomId, body, key, onRetry) {
  const url = `/api/v1/rooms/${encodeURIComponent(roomId)}/outcome`;
  for (let attempt = 0; ; attempt += 1) {
    let answer = null;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      answer = { status: response.status, body: data };
    } catch {
      answer = { status: 0, body: {} };
    }
    const retryable = answer.status === 0 || answer.status >= 500;
    if (!retryable || attempt >= RETRY_DELAYS_MS.length) return answer;
    onRetry(attempt + 1);
    await sleep(RETRY_DELAYS_MS[attempt]);
  }
}

export class OutcomeForm {
  constructor(form, roomId, words, onSaved) {
    this.form = form;
    this.roomId = roomId;
    this.words = words;
    this.onSaved = onSaved;
    this.key = newKey(); // one per filled-in form: every retry of it sends the same
    this.saved = false;
    this.error = document.getElementById("outcome-error");
    this.status = document.getElementById("outcome-status");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  async submit() {
    if (this.saved) return;
    if (!this.form.reportValidity()) return;
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    this.setError("");
    this.status.textContent = this.words.outcome_saving;
    const answer = await postOutcome(this.roomId, outcomeBody(this.form), this.key, () => {
      this.status.textContent = this.words.outcome_retrying;
    });
    this.status.textContent = "";
    button.disabled = false;
    if (answer.status >= 200 && answer.status < 300) {
      this.saved = true;
      this.status.textContent = this.words.outcome_saved;
      for (const field of this.form.elements) field.disabled = true;
      this.onSaved(answer.body);
      return;
    }
    if (answer.body && answer.body.code === "outcome_exists") {
      this.setError(this.words.outcome_exists);
      return;
    }
    const detail = (answer.body && (answer.body.detail || answer.body.title)) || answer.status || "";
    this.setError(`${this.words.outcome_failed} ${detail}`);
    // A refused form is changed and sent again: that is another request, with its own key.
    if (answer.status >= 400 && answer.status < 500) this.key = newKey();
  }

  setError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }
}
