// Consult attachments on a weak connection: each chosen file is sent on its own with
// XMLHttpRequest (which reports upload progress, unlike fetch), one after another, with
// a <progress> per file. A file that fails shows why, in the page's language (the form's
// data-refused-<code> texts; the API's own detail is English), and keeps a Retry button
// only when sending again can help (a lost connection, the server's own trouble); the
// ones that arrived are added to the list without reloading.
// Without JavaScript the same form posts to a page route instead.

// Whether a refusal may pass on a second try: the server's trouble, a timeout, a throttle.
const RETRYABLE = (status) => status === 0 || status === 408 || status === 429 || status >= 500;

for (const form of document.querySelectorAll("form[data-upload]")) {
  setUp(form);
}

function setUp(form) {
  const input = form.querySelector("[data-upload-input]");
  const section = form.closest("section") || document;
  const queue = section.querySelector("[data-upload-queue]");
  const list = section.querySelector("[data-attachment-list]");
  const texts = form.dataset;
  const maxBytes = Number(texts.maxBytes) || Infinity;
  // Files go one at a time: on a thin uplink parallel uploads only all finish later.
  let chain = Promise.resolve();

  form.querySelector("[data-upload-submit]").hidden = true;
  input.addEventListener("change", () => takeFiles());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    takeFiles();
  });

  function takeFiles() {
    for (const file of Array.from(input.files)) {
      const item = makeItem(file);
      queue.append(item.row);
      if (file.size > maxBytes) {
        fail(item, texts.textTooLarge, false);
      } else {
        schedule(item);
      }
    }
    input.value = "";
  }

  function schedule(item) {
    chain = chain.then(() => send(item));
  }

  function makeItem(file) {
    const row = document.createElement("li");
    row.className = "upload";
    row.dataset.uploadItem = file.name;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.dataset.progress = "";
    progress.max = file.size || 1;
    progress.value = 0;
    progress.setAttribute("aria-label", file.name);
    const status = document.createElement("span");
    status.className = "upload-status";
    status.dataset.uploadStatus = "";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "secondary";
    retry.dataset.retry = "";
    retry.textContent = texts.textRetry;
    retry.hidden = true;
    row.append(name, progress, status, retry);
    const item = { file, row, progress, status, retry };
    retry.addEventListener("click", () => {
      retry.hidden = true;
      schedule(item);
    });
    setState(item, "waiting", "");
    return item;
  }

  function send(item) {
    return new Promise((resolve) => {
      setState(item, "sending", texts.textUploading);
      item.progress.value = 0;
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.uploadUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          item.progress.max = event.total;
          item.progress.value = event.loaded;
        }
      });
      xhr.addEventListener("load", () => {
        const body = parse(xhr.responseText);
        if (xhr.status === 201 || xhr.status === 200) {
          arrived(item, body);
        } else {
          fail(item, refusal(body && body.code), RETRYABLE(xhr.status));
        }
        resolve();
      });
      for (const type of ["error", "timeout", "abort"]) {
        xhr.addEventListener(type, () => {
          fail(item, texts.textNetwork, true);
          resolve();
        });
      }
      const body = new FormData();
      body.append("file", item.file, item.file.name);
      xhr.send(body);
    });
  }

  function arrived(item, attachment) {
    item.progress.value = item.progress.max;
    setState(item, "done", texts.textDone);
    if (attachment && attachment.id) {
      list.append(attachmentRow(attachment));
      const empty = section.querySelector("[data-empty]");
      if (empty) empty.remove();
    }
  }

  function refusal(code) {
    const key = `refused${String(code || "").replace(/(^|_)(\w)/g, (_, __, c) => c.toUpperCase())}`;
    return (code && texts[key]) || texts.textRefused;
  }

  function fail(item, detail, retryable) {
    setState(item, "failed", `${texts.textFailed} ${detail}`);
    item.retry.hidden = !retryable;
  }

  function attachmentRow(a) {
    const row = document.createElement("li");
    row.className = "attachment";
    row.dataset.attachment = a.id;
    row.dataset.kind = a.kind;
    const link = document.createElement("a");
    link.className = "thumb";
    link.href = `/consults/${form.dataset.consult}/attachments/${a.id}`;
    const source = a.thumbnail_url;
    if (source) {
      const img = document.createElement("img");
      img.src = source;
      img.alt = "";
      img.width = 96;
      img.height = 96;
      link.append(img);
    } else {
      const badge = document.createElement("span");
      badge.className = "file-kind";
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = kindName(a.kind);
      link.append(badge);
    }
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = a.filename;
    link.append(name);
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${kindName(a.kind)} · ${size(a.size, texts.lang)}`;
    row.append(link, meta);
    return row;
  }

  function kindName(kind) {
    return kind === "image" ? texts.textKindImage : String(kind).toUpperCase();
  }
}

function setState(item, state, text) {
  item.row.dataset.state = state;
  item.status.textContent = text;
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// As the server writes sizes (telehealth/views/formats.py): decimal units, the page's
// own decimal separator.
function size(bytes, lang) {
  const number = new Intl.NumberFormat(lang || undefined, { maximumFractionDigits: 1 });
  if (bytes < 1000) return `${number.format(bytes)} B`;
  if (bytes < 1000 * 1000) return `${number.format(bytes / 1000)} kB`;
  return `${number.format(bytes / 1000 / 1000)} MB`;
}
