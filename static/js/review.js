// The review item page: one <video> drives wavesurfer (server peaks, no decoding), claims play their spans
// (playback.js, shared with the question page), and the keyboard flow (a/x/e/f/u, digits, space, j/k, s, ?). Decisions are plain forms; htmx swaps #review-panel.
(function () {
  "use strict";
  const root = document.getElementById("review-root");
  if (!root) return;
  const player = document.getElementById("player");
  // A refused write (409 stale / 400 invalid) still carries the panel with its message: swap it in.
  if (window.htmx) {
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "40[09]", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  // --- waveform and spectrogram (wave.js); speed, claims that play their evidence span (shown as a region on the
  // waveform) and the transport keys (playback.js) ---------------------------------------------------------------
  const wave = window.SightSound.wave(player, root);
  const media = window.SightSound.playback(player, { onClaim: wave.showSpans });

  // --- chain selection ------------------------------------------------------------------------------------
  // The server marks the selected card (data-selected on the panel, class "selected" on the card): after a
  // decision the next pending chain, after an undo the undone one, after a refusal the refused one. A class added
  // here after a swap would be wiped when htmx settles the new panel's attributes, so a swap only re-reads it.
  let selected = null;  // the chosen card's element id
  function chains() { return Array.from(document.querySelectorAll("#review-panel .review-chain")); }
  function select(article) {
    chains().forEach(function (c) { c.classList.toggle("selected", c === article); });
    selected = article ? article.id : null;
    if (article) article.scrollIntoView({ block: "nearest" });
  }
  function current() { return chains().find(function (c) { return c.id === selected; }) || null; }
  function selectFromServer() {
    const panel = document.getElementById("review-panel");
    const id = panel && panel.dataset.selected;
    select(id ? document.getElementById("chain-" + id) : null);
  }
  selectFromServer();
  document.body.addEventListener("htmx:afterSettle", selectFromServer);
  document.addEventListener("click", function (ev) {
    const article = ev.target.closest(".review-chain");
    if (article && !ev.target.closest("form, details, mark")) select(article);
  });

  // --- long chains fold (fold.js): a swapped panel folds its long chains again, `o` toggles the selected one ---
  const fold = window.SightSound.fold;
  document.body.addEventListener("htmx:afterSettle", function () { fold.apply(document); });

  // A decision key pressed while the previous one is in flight is dropped (it would hit a stale version), and a form
  // swapped in a moment ago is handed to htmx first: otherwise a fast key press submits it natively (full reload).
  let inFlight = false;
  document.body.addEventListener("htmx:beforeRequest", function () { inFlight = true; });
  ["htmx:afterSwap", "htmx:afterRequest", "htmx:responseError", "htmx:sendError"].forEach(function (name) {
    document.body.addEventListener(name, function () { inFlight = false; });
  });
  function submit(form) {
    if (!form || inFlight) return;
    if (window.htmx) window.htmx.process(form);
    form.requestSubmit ? form.requestSubmit() : form.submit();
  }
  function openDetails(cls, focusSelector) {
    const article = current();
    if (!article) return null;
    const details = article.querySelector(cls);
    if (!details) return null;
    details.open = true;
    const field = focusSelector && details.querySelector(focusSelector);
    if (field) { field.focus(); if (field.tagName === "TEXTAREA") field.setSelectionRange(field.value.length, field.value.length); }
    return details;
  }
  // The reject form of the selected chain while it is open: digits pick its reason, Enter submits. Nothing in it
  // takes the focus, so every other key keeps working.
  function openReject() {
    const article = current();
    const details = article && article.querySelector(".act-reject");
    return details && details.open ? details : null;
  }
  function rejectKey(ev) {
    const details = openReject();
    if (!details) return false;
    const form = details.querySelector("form");
    if (/^[1-9]$/.test(ev.key)) {
      const radio = form.querySelectorAll("input[name=reason]")[parseInt(ev.key, 10) - 1];
      if (radio) radio.checked = true;
      return true;
    }
    if (ev.key === "Enter" && !ev.target.closest("button, summary, a")) {
      ev.preventDefault();
      if (form.reportValidity()) submit(form);
      return true;
    }
    return false;
  }
  const toggleHelp = window.SightSound.help();  // help.js

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && ev.target.tagName === "TEXTAREA") {
        ev.preventDefault(); submit(ev.target.form);
      }
      return;
    }
    // Typing goes to text fields; a focused radio button, checkbox or button does not keep the keys to itself.
    const inField = ev.target.closest && ev.target.closest("input:not([type=radio]):not([type=checkbox]), textarea, select");
    if (ev.key === "Escape") {
      toggleHelp(false);
      document.querySelectorAll("#review-panel details[open]").forEach(function (d) { d.open = false; });
      if (inField) ev.target.blur();
      return;
    }
    if (inField) return;
    if (media.claimKey(ev) || rejectKey(ev) || media.transportKey(ev)) return;
    const article = current();
    switch (ev.key) {
      case "a": if (article) submit(article.querySelector(".act-accept form, form.act-accept")); break;
      case "f": if (article) submit(article.querySelector("form.act-flag")); break;
      case "x": ev.preventDefault(); openDetails(".act-reject", null); break;
      case "e": ev.preventDefault(); openDetails(".act-edit", "textarea"); break;
      case "u": submit(document.getElementById("undo-form")); break;
      case "s": wave.toggleSpectrogram(); break;
      case "o": fold.toggle(article); break;
      case "j": { const l = document.getElementById("next-link"); if (l) window.location = l.href; break; }
      case "k": { const l = document.getElementById("prev-link"); if (l) window.location = l.href; break; }
      case "?": toggleHelp(); break;
      default:
        if (/^[1-9]$/.test(ev.key)) {
          const pick = chains().find(function (c) { return c.dataset.index === ev.key; });
          if (pick) select(pick);
        }
    }
  });
})();
