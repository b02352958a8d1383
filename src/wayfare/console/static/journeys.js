// New journey from scratch: only the field the chosen entry type needs is shown (all without JS).
"use strict";
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
