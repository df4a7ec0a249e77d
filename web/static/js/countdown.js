// Deadline countdowns of the consult lists. The server writes the time left to each
// deadline; this module keeps it current (every 30 s, every second within an hour of a
// deadline) and marks a request overdue the moment its deadline passes: row class,
// visible badge and a polite announcement. It writes textContent only, never HTML.

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;
const SLOW = 30000;
const FAST = 1000;

/** The two largest units of a duration, a zero second one left out (as the server). */
export function durationParts(seconds) {
  let rest = Math.max(0, Math.floor(seconds));
  const days = Math.floor(rest / DAY);
  rest -= days * DAY;
  const hours = Math.floor(rest / HOUR);
  rest -= hours * HOUR;
  const minutes = Math.floor(rest / MINUTE);
  const secs = rest - minutes * MINUTE;
  let parts;
  if (days) parts = [["d", days], ["h", hours]];
  else if (hours) parts = [["h", hours], ["min", minutes]];
  else if (minutes) parts = [["min", minutes], ["s", secs]];
  else parts = [["s", secs]];
  return parts.slice(0, 1).concat(parts.slice(1).filter(([, n]) => n));
}

function fill(template, name, value) {
  return template.split(`%(${name})s`).join(String(value));
}

/** "3 h 12 min left" or "overdue by 5 min", in the page's language. */
export function describe(words, secondsLeft) {
  const time = durationParts(Math.abs(secondsLeft))
    .map(([unit, n]) => fill(words.units[unit], "n", n))
    .join(" ");
  return fill(secondsLeft > 0 ? words.left : words.over, "time", time);
}

function markOverdue(row, words, live) {
  row.classList.add("is-overdue");
  row.dataset.overdue = "true";
  const badge = row.querySelector("[data-overdue-badge]");
  if (badge) badge.hidden = false;
  const link = row.querySelector("[data-consult-link]");
  if (live && link) live.textContent = fill(words.now_overdue, "name", link.textContent.trim());
}

/** Rewrite every countdown of `table`; returns the delay before the next update. */
function update(table, words, offset, live) {
  const now = Date.now() + offset;
  let nearest = Infinity;
  for (const time of table.querySelectorAll("time[data-due]")) {
    const due = Date.parse(time.dateTime);
    if (Number.isNaN(due)) continue;
    const secondsLeft = (due - now) / 1000;
    time.textContent = describe(words, secondsLeft);
    const row = time.closest("[data-consult-id]");
    if (secondsLeft <= 0 && row && row.dataset.overdue !== "true") markOverdue(row, words, live);
    nearest = Math.min(nearest, Math.abs(secondsLeft));
  }
  if (nearest === Infinity) return null;
  return nearest < HOUR ? FAST : SLOW;
}

function start(table) {
  let words;
  try {
    words = JSON.parse(table.dataset.countdown);
  } catch {
    return;
  }
  // Count from the server's clock: a clinic computer's clock may be hours off.
  const serverNow = Date.parse(table.dataset.now);
  const offset = Number.isNaN(serverNow) ? 0 : serverNow - Date.now();
  const live = document.getElementById("consult-live");
  let timer = null;
  const tick = () => {
    const delay = update(table, words, offset, live);
    timer = delay === null ? null : setTimeout(tick, delay);
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    clearTimeout(timer);
    tick();
  });
  timer = setTimeout(tick, FAST);
}

if (typeof document !== "undefined") {
  for (const table of document.querySelectorAll("[data-countdown]")) start(table);
}
