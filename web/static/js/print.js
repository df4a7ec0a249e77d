// The record page's print button: shown only where scripts run (otherwise the
// browser's own print command does the same).
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
