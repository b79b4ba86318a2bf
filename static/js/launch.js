// Launch forms (templates/_form.html): once submitted, the button says it is working and cannot send twice.
// Without JavaScript the form posts as it always did.
(function () {
  "use strict";
  document.querySelectorAll("form[data-launch]").forEach(function (form) {
    form.addEventListener("submit", function () {
      const button = form.querySelector("button[type=submit]");
      if (!button) return;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = button.dataset.busy || "Working…";
    });
  });
})();
