// The call page opened at a moment (?t=<seconds>, e.g. from a keyword-audit result): the
// player is set there and the turn starting closest to it is scrolled into view.
(function () {
  "use strict";
  var match = /[?&#]t=(\d+(?:\.\d+)?)/.exec(window.location.search) ||
              /[#&]t=(\d+(?:\.\d+)?)/.exec(window.location.hash);
  if (!match) { return; }
  var seconds = Number(match[1]);
  if (!isFinite(seconds) || seconds < 0) { return; }

  var audio = document.getElementById("call-audio");
  if (audio) {
    var setTime = function () { audio.currentTime = seconds; };
    if (audio.readyState >= 1) { setTime(); } else {
      audio.addEventListener("loadedmetadata", setTime, {once: true});
    }
  }

  var closest = null;
  var best = Infinity;
  document.querySelectorAll(".turn[data-start-ms]").forEach(function (turn) {
    var distance = Math.abs(Number(turn.dataset.startMs) - seconds * 1000);
    if (distance < best) { best = distance; closest = turn; }
  });
  if (closest) {
    closest.classList.add("sought");
    closest.scrollIntoView({block: "center"});
  }
})();
