// The question page: one media element drives the waveform playhead; clicking the waveform seeks; j/k move on.
// Speed buttons, claim playback and the transport keys are playback.js's, shared with the review page.
(function () {
  "use strict";
  const player = document.getElementById("player");
  if (!player) return;
  const wave = document.getElementById("waveform");
  const head = document.getElementById("playhead");
  if (wave) {
    wave.addEventListener("click", function (ev) {
      const box = wave.getBoundingClientRect();
      const duration = player.duration || parseFloat(wave.dataset.duration) || 0;
      player.currentTime = Math.max(0, Math.min(duration, ((ev.clientX - box.left) / box.width) * duration));
    });
    player.addEventListener("timeupdate", function () {
      if (!player.duration) return;
      const x = (1000 * player.currentTime) / player.duration;
      head.setAttribute("x1", x); head.setAttribute("x2", x);
    });
  }
  const media = window.SightSound.playback(player);  // speed buttons, claims, transport keys (playback.js)
  document.addEventListener("keydown", function (ev) {
    if (media.claimKey(ev)) return;
    if (ev.target.closest("input, textarea, select")) return;
    if (media.transportKey(ev)) return;
    if (ev.key === "j" || ev.key === "k") {
      const link = document.querySelector(ev.key === "j" ? "[accesskey=j]" : "[accesskey=k]");
      if (link) window.location = link.href;
    }
  });
})();
