// The adjudication page: the player and waveform as on the review page (wave.js, playback.js) and keys for the ruling
// form, which stays a plain form that posts: a / x / e choose the ruling and put the cursor where it needs input,
// 1-9 take that curator's edit into the text, Ctrl+Enter rules, space plays, j goes to the next flagged chain.
(function () {
  "use strict";
  const root = document.getElementById("adjudicate-root");
  if (!root) return;
  const player = document.getElementById("player");
  const wave = window.SightSound.wave(player, root);
  const media = window.SightSound.playback(player, { onClaim: wave.showSpans });
  const form = document.getElementById("ruling-form");

  function choose(action, focus) {
    if (!form) return;
    const radio = form.querySelector("input[name=action][value=" + action + "]");
    if (radio) radio.checked = true;
    const field = focus && form.querySelector(focus);
    if (field) field.focus();
  }
  function takeEdit(button) {
    const text = document.getElementById("ruling-text");
    if (!button || !text) return;
    text.value = button.dataset.text;
    choose("edit", "#ruling-note");
  }
  document.querySelectorAll(".take-edit").forEach(function (b) {
    b.addEventListener("click", function () { takeEdit(b); });
  });
  const toggleHelp = window.SightSound.help();  // help.js

  document.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && form && ev.target.closest && ev.target.closest("#ruling-form")) {
      ev.preventDefault();
      if (form.reportValidity()) form.requestSubmit ? form.requestSubmit() : form.submit();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const inField = ev.target.closest && ev.target.closest("input:not([type=radio]):not([type=checkbox]), textarea, select");
    if (ev.key === "Escape") { toggleHelp(false); if (inField) ev.target.blur(); return; }
    if (inField) return;
    if (media.claimKey(ev) || media.transportKey(ev)) return;
    switch (ev.key) {
      case "a": ev.preventDefault(); choose("accept", "#ruling-note"); break;
      case "x": ev.preventDefault(); choose("reject", "select[name=reason]"); break;
      case "e": ev.preventDefault(); choose("edit", "#ruling-text"); break;
      case "s": wave.toggleSpectrogram(); break;
      case "j": { const l = document.getElementById("next-link"); if (l) window.location = l.href; break; }
      case "?": toggleHelp(); break;
      default:
        if (/^[1-9]$/.test(ev.key)) takeEdit(document.querySelector(".take-edit[data-side='" + ev.key + "']"));
    }
  });
})();
