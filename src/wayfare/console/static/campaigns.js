// Campaign editor: the preview follows the fields as they are typed (the "Preview" button
// does the same without scripts). Each change asks POST {form.dataset.preview} for the
// preview pane's HTML, a moment after the typing stops; an older answer never replaces a newer.
"use strict";
(() => {
  const form = document.querySelector("form[data-preview]");
  const pane = document.getElementById("preview");
  if (!form || !pane) {
    return;
  }
  let timer = 0;
  let asked = 0;

  const show = (html) => {
    pane.innerHTML = html;
    pane.removeAttribute("aria-busy");
  };

  const refresh = async () => {
    const mine = ++asked;
    const body = new FormData(form);
    body.delete("action");
    pane.setAttribute("aria-busy", "true");
    try {
      const answer = await fetch(form.dataset.preview, {
        method: "POST",
        body,
        headers: { "X-CSRF-Token": String(body.get("csrf")) },
        credentials: "same-origin",
      });
      if (mine !== asked) {
        return;
      }
      if (answer.redirected || !answer.ok) {
        show('<p class="problems" role="alert">The preview is not available: reload the page (you may need to log in again).</p>');
        return;
      }
      show(await answer.text());
    } catch {
      if (mine === asked) {
        show('<p class="problems" role="alert">The preview could not be fetched: the server did not answer.</p>');
      }
    }
  };

  const later = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  };

  // Fields may sit outside the form element (form="..."), so listen on the whole document
  // (a select's change fires "input" too).
  document.addEventListener("input", (event) => {
    if (event.target.form === form) {
      later();
    }
  });
  // Enter in the customer box previews for that customer instead of saving the campaign.
  const customer = document.getElementById("f-customer");
  if (customer) {
    customer.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        window.clearTimeout(timer);
        refresh();
      }
    });
  }
})();
