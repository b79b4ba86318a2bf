// What the question page (player.js) and the review page (review.js) share about the one media element: speed
// buttons, highlighted claims that play their evidence span and pause, and the transport keys (space, arrows).
// Each page wires its own keydown handler and calls these, so its key order stays its own.
(function () {
  "use strict";
  window.SightSound = window.SightSound || {};
  window.SightSound.playback = function (player, options) {
    const onClaim = (options && options.onClaim) || null;

    document.querySelectorAll(".speed button").forEach(function (btn) {
      btn.addEventListener("click", function () {
        if (!player) return;
        player.playbackRate = parseFloat(btn.dataset.rate);
        document.querySelectorAll(".speed button").forEach(function (b) { b.classList.toggle("on", b === btn); });
      });
    });

    // A highlighted claim plays the time span of its evidence, then pauses.
    let stopAt = null;
    function playClaim(mark) {
      const spans = JSON.parse(mark.dataset.spans || "[]");
      if (!spans.length || !player) return;
      if (onClaim) onClaim(spans);
      player.currentTime = spans[0][0];
      stopAt = spans[0][1];
      player.play();
    }
    if (player) {
      player.addEventListener("timeupdate", function () {
        if (stopAt !== null && player.currentTime >= stopAt) { player.pause(); stopAt = null; }
      });
    }
    document.addEventListener("click", function (ev) {
      const mark = ev.target.closest("mark.claim");
      if (mark) playClaim(mark);
    });

    return {
      playClaim: playClaim,
      // Enter on a focused claim plays it; true when the key was handled.
      claimKey: function (ev) {
        const mark = ev.target.closest && ev.target.closest("mark.claim");
        if (mark && ev.key === "Enter") { playClaim(mark); return true; }
        return false;
      },
      // Space plays or pauses, the arrows skip 2 s; true when the key was one of them.
      transportKey: function (ev) {
        switch (ev.key) {
          case " ": ev.preventDefault(); if (player) { if (player.paused) player.play(); else player.pause(); } return true;
          case "ArrowLeft": if (player) player.currentTime = Math.max(0, player.currentTime - 2); return true;
          case "ArrowRight": if (player) player.currentTime = player.currentTime + 2; return true;
          default: return false;
        }
      },
    };
  };
})();
