// Journeys pages: small enhancements; every page works without them.
"use strict";

// New journey from scratch: only the field the chosen entry type needs is shown.
(() => {
  const entry = document.getElementById("f-entry");
  if (!entry) {
    return;
  }
  const show = () => {
    for (const part of document.querySelectorAll("[data-entry]")) {
      part.hidden = part.dataset.entry !== entry.value;
    }
  };
  entry.addEventListener("change", show);
  show();
})();

// The list's Activate opens the activation options in a dialog (the same form as its page,
// fetched; the page itself is the fallback when anything goes wrong).
document.addEventListener("click", async (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-options-dialog]") : null;
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
    return;
  }
  event.preventDefault();
  let body;
  try {
    const answer = await fetch(link.href, { credentials: "same-origin" });
    if (!answer.ok) {
      throw new Error(String(answer.status));
    }
    body = new DOMParser().parseFromString(await answer.text(), "text/html");
  } catch {
    window.location.assign(link.href);
    return;
  }
  const content = body.querySelector("[data-dialog-content]");
  if (!content) {
    window.location.assign(link.href);
    return;
  }
  const dialog = document.createElement("dialog");
  dialog.className = "options-dialog";
  const heading = body.querySelector("h1");
  const title = document.createElement("h2");
  title.id = "options-dialog-title";
  title.textContent = heading ? heading.textContent : link.textContent;
  dialog.setAttribute("aria-labelledby", title.id);
  dialog.append(title, document.importNode(content, true));
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  for (const cancel of dialog.querySelectorAll("[data-dialog-cancel]")) {
    cancel.addEventListener("click", (e) => {
      e.preventDefault();
      dialog.close();
    });
  }
  dialog.showModal();
  const first = dialog.querySelector("input:not([type=hidden]), select, button");
  if (first) {
    first.focus();
  }
});
