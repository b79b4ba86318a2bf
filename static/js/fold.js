// Long chain texts fold to FOLD_PX with a "Show all" button under them (and `o` on the review page), on the review and
// question pages alike; without script every chain shows in full.
(function () {
  "use strict";
  const FOLD_PX = 320;
  const unfolded = new Set();  // card ids the curator unfolded: a swapped review panel keeps them open
  const key = document.getElementById("review-root") ? " (o)" : "";  // only the review page has the key

  function setFolded(article, folded) {
    const text = article.querySelector(".text"), btn = article.querySelector(".unfold");
    if (!text || !btn) return;
    text.classList.toggle("folded", folded);
    btn.textContent = (folded ? "Show all" : "Fold") + key;
    btn.setAttribute("aria-expanded", folded ? "false" : "true");
    if (folded) unfolded.delete(article.id); else unfolded.add(article.id);
  }
  function apply(root) {
    (root || document).querySelectorAll("article.chain").forEach(function (article) {
      const text = article.querySelector(".text");
      if (!text || article.querySelector(".unfold") || text.scrollHeight <= FOLD_PX * 1.25) return;
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "unfold link";
      text.after(btn);
      setFolded(article, !unfolded.has(article.id));
    });
  }
  function toggle(article) {
    const text = article && article.querySelector(".text");
    if (text && article.querySelector(".unfold")) setFolded(article, !text.classList.contains("folded"));
  }
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest(".unfold");
    if (btn) toggle(btn.closest("article.chain"));
  });
  window.SightSound = window.SightSound || {};
  window.SightSound.fold = { apply: apply, toggle: toggle };
  apply(document);
})();
