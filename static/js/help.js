// The keys overlay (#review-help) of the review and adjudication pages: its button opens and closes it; each page's
// key handler calls the returned toggle for `?` (toggle()) and Esc (toggle(false)).
(function () {
  "use strict";
  window.SightSound = window.SightSound || {};
  window.SightSound.help = function () {
    function toggle(force) {
      const help = document.getElementById("review-help");
      if (help) help.hidden = force === undefined ? !help.hidden : !force;
    }
    const button = document.getElementById("help-button");
    if (button) button.addEventListener("click", function () { toggle(); });
    return toggle;
  };
})();
