// Every form is checked by the server, which answers in the page's language, puts the
// focus on the first field in error and says what to fix. The browser's own bubbles
// speak the browser's language and vanish, so they are turned off; without JavaScript
// they stay (the server checks the same fields either way).
for (const form of document.querySelectorAll("form")) {
  form.noValidate = true;
}
