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
  // A highlighted claim plays the time span of its evidence, then pauses.
  let stopAt = null;
  function playClaim(mark) {
    const spans = JSON.parse(mark.dataset.spans || "[]");
    if (!spans.length) return;
    player.currentTime = spans[0][0];
    stopAt = spans[0][1];
    player.play();
  }
  player.addEventListener("timeupdate", function () {
    if (stopAt !== null && player.currentTime >= stopAt) { player.pause(); stopAt = null; }
  });
  document.addEventListener("click", function (ev) {
    const mark = ev.target.closest("mark.claim");
    if (mark) playClaim(mark);
  });
  document.addEventListener("keydown", function (ev) {
    const mark = ev.target.closest && ev.target.closest("mark.claim");
    if (mark && ev.key === "Enter") { playClaim(mark); return; }
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
