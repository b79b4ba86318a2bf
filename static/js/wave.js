// The waveform under the one media element (wavesurfer with the server's peaks: nothing decoded in the browser), the
// evidence span of a played claim shown as a region, and the spectrogram on demand (server frames). Shared by the
// review item page (review.js) and the adjudication page (adjudicate.js); `root` gets data-wave-ready once drawn.
(function () {
  "use strict";
  window.SightSound = window.SightSound || {};
  window.SightSound.wave = function (player, root) {
    let wave = null, regions = null, spectro = null;
    const waveBox = document.getElementById("wave");
    if (player && waveBox && window.WaveSurfer && waveBox.dataset.peaksUrl) {
      fetch(waveBox.dataset.peaksUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (peaks) {
          regions = WaveSurfer.Regions.create();
          wave = WaveSurfer.create({
            container: waveBox, media: player, peaks: [peaks.data], duration: peaks.duration || parseFloat(waveBox.dataset.duration),
            height: 72, waveColor: "#8aa4c8", progressColor: "#2f5d9b", cursorColor: "#d33", normalize: true,
            plugins: [regions, WaveSurfer.Timeline.create({ container: "#wave-timeline" })],
          });
          root.dataset.waveReady = "1";
        }).catch(function (err) { console.warn("waveform unavailable", err); });
    }

    function toggleSpectrogram() {
      const btn = document.getElementById("spectrogram-toggle");
      const box = document.getElementById("spectrogram");
      if (!btn || !box || !window.WaveSurfer) return;
      const show = box.hidden;
      box.hidden = !show;
      btn.setAttribute("aria-pressed", show ? "true" : "false");
      if (show && !spectro) {  // frames computed by the server (0-8 kHz), only when asked for: nothing decoded here
        const duration = (wave && wave.getDuration()) || parseFloat(waveBox.dataset.duration) || 1;
        spectro = WaveSurfer.create({
          container: box, peaks: [[0, 0]], duration: duration, height: 0, interact: false, cursorWidth: 0,
          plugins: [WaveSurfer.Spectrogram.create({
            labels: true, height: 128, frequencyMax: 8000, sampleRate: 16000, frequenciesDataUrl: btn.dataset.frequenciesUrl,
          })],
        });
      }
    }
    const specBtn = document.getElementById("spectrogram-toggle");
    if (specBtn) specBtn.addEventListener("click", toggleSpectrogram);

    return {
      toggleSpectrogram: toggleSpectrogram,
      // A claim's evidence spans as regions on the waveform (playback.js's onClaim).
      showSpans: function (spans) {
        if (!regions) return;
        regions.clearRegions();
        spans.forEach(function (s) { regions.addRegion({ start: s[0], end: s[1], color: "rgba(255, 200, 0, 0.3)", drag: false, resize: false }); });
      },
    };
  };
})();
