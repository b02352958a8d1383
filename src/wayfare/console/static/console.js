// Wayfare console: small progressive enhancements; every page works without them.
"use strict";
document.documentElement.classList.add("js");

// A select marked data-autosubmit submits its form when changed.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form.requestSubmit();
  }
});

// A form marked data-confirm="question" asks in a dialog before it is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) {
    return;
  }
  event.preventDefault();
  const dialog = document.createElement("dialog");
  dialog.setAttribute("aria-labelledby", "confirm-question");
  const question = document.createElement("p");
  question.id = "confirm-question";
  question.textContent = form.dataset.confirm;
  const buttons = document.createElement("div");
  buttons.className = "actions";
  const yes = document.createElement("button");
  yes.className = "primary";
  yes.textContent = "Confirm";
  const no = document.createElement("button");
  no.textContent = "Cancel";
  buttons.append(yes, no);
  dialog.append(question, buttons);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  no.addEventListener("click", () => dialog.close());
  yes.addEventListener("click", () => {
    form.dataset.confirmed = "1";
    dialog.close();
    form.requestSubmit();
  });
  dialog.showModal();
  no.focus();
});
