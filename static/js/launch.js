// Launch forms (templates/_form.html). Once submitted, the button says it is working and cannot send twice; fields
// that apply to one choice only (data-shown-when="backend=openai", webapp/core/forms.py) hide while another is
// chosen. Without JavaScript the form posts as it always did and shows every field.
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
    const dependents = Array.prototype.slice.call(form.querySelectorAll("[data-shown-when]"));
    function update() {
      dependents.forEach(function (el) {
        const rule = el.dataset.shownWhen.split("=");
        const control = form.elements.namedItem(rule[0]);
        const shown = !control || rule[1].split(",").indexOf(control.value) >= 0;
        const wrapper = el.closest(".field") || el;
        wrapper.hidden = !shown;
      });
    }
    form.addEventListener("change", update);
    update();
  });
})();
