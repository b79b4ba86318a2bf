// One media element drives the waveform playhead; clicking the waveform seeks; speed buttons.
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
  document.querySelectorAll(".speed button").forEach(function (btn) {
    btn.addEventListener("click", function () {
      player.playbackRate = parseFloat(btn.dataset.rate);
      document.querySelectorAll(".speed button").forEach(function (b) { b.classList.toggle("on", b === btn); });
    });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target.closest("input, textarea, select")) return;
    if (ev.key === " ") { ev.preventDefault(); if (player.paused) { player.play(); } else { player.pause(); } }
    else if (ev.key === "ArrowLeft") { player.currentTime = Math.max(0, player.currentTime - 2); }
    else if (ev.key === "ArrowRight") { player.currentTime = player.currentTime + 2; }
    else if (ev.key === "j" || ev.key === "k") {
      const link = document.querySelector(ev.key === "j" ? "[accesskey=j]" : "[accesskey=k]");
      if (link) window.location = link.href;
    }
  });
})();
