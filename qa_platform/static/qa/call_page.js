// The call page: clicking a turn plays from there, the turn being played is highlighted,
// and reviewers work from the keyboard (j/k next/previous hit, c confirm, d dismiss,
// space play/pause).
(function () {
  "use strict";
  var audio = document.getElementById("call-audio");
  var turns = Array.prototype.slice.call(document.querySelectorAll(".turn[data-start-ms]"));
  var hits = Array.prototype.slice.call(document.querySelectorAll("li.hit[data-start-ms]"));
  var current = -1;

  function seek(ms) {
    if (!audio) { return; }
    audio.currentTime = Number(ms) / 1000;
    var playing = audio.play();
    if (playing && playing.catch) { playing.catch(function () {}); }
  }

  turns.forEach(function (turn) {
    turn.addEventListener("click", function (event) {
      if (window.getSelection && String(window.getSelection())) { return; } // selecting text
      if (event.target.closest("a, button, input, select, form")) { return; }
      seek(turn.dataset.startMs);
    });
  });

  if (audio) {
    audio.addEventListener("timeupdate", function () {
      var ms = audio.currentTime * 1000;
      turns.forEach(function (turn) {
        var on = ms >= Number(turn.dataset.startMs) && ms < Number(turn.dataset.endMs);
        turn.classList.toggle("playing", on);
      });
    });
  }

  function focusHit(index) {
    if (!hits.length) { return; }
    current = (index + hits.length) % hits.length;
    hits.forEach(function (hit, i) { hit.classList.toggle("current", i === current); });
    hits[current].focus();
    hits[current].scrollIntoView({block: "center"});
    seek(hits[current].dataset.startMs);
  }

  function decide(decision) {
    if (current < 0) { return; }
    var button = hits[current].querySelector("button[value=" + decision + "]");
    if (button) { button.click(); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.target.closest("input, textarea, select")) { return; }
    switch (event.key) {
      case "j": focusHit(current + 1); break;
      case "k": focusHit(current - 1); break;
      case "c": decide("confirmed"); break;
      case "d": decide("dismissed"); break;
      case " ":
        if (!audio) { return; }
        if (audio.paused) { audio.play(); } else { audio.pause(); }
        break;
      default: return;
    }
    event.preventDefault();
  });

  var anchored = window.location.hash.match(/^#hit-(\d+)$/);
  if (anchored) {
    hits.forEach(function (hit, i) { if (hit.id === "hit-" + anchored[1]) { current = i; } });
    if (current >= 0) { hits[current].classList.add("current"); }
  }
})();
