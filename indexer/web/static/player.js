// indexer's page scripts: play a hit from its jump-in time; in a transcript, light up the word being
// spoken, follow it, seek where a word is clicked, and start at #t=SECONDS.
"use strict";

(function () {
  const player = document.getElementById("player");
  if (!player) return;

  // Seconds from "76.5", "1:16", "1:02:03" or "npt:76" (W3C media fragments).
  function seconds(text) {
    const clean = String(text).replace(/^npt:/, "");
    if (!/^\d+(:\d+){0,2}(\.\d+)?$/.test(clean)) return null;
    return clean.split(":").reduce((total, part) => total * 60 + parseFloat(part), 0);
  }

  function fragmentStart() {
    const match = /(?:^|&)t=([^,&]+)/.exec(location.hash.slice(1));
    return match ? seconds(decodeURIComponent(match[1])) : null;
  }

  // Where to go once the audio can seek: set before the metadata is in, applied when it is.
  let pending = null;
  function apply() {
    if (pending === null) return;
    const { at, play } = pending;
    pending = null;
    player.currentTime = at;
    if (play) {
      const started = player.play();
      if (started) started.catch(() => {}); // autoplay refused: the user presses play and it starts here
    }
  }
  player.addEventListener("loadedmetadata", apply);

  function playFrom(at, play = true) {
    pending = { at, play };
    if (player.readyState >= HTMLMediaElement.HAVE_METADATA) apply();
  }

  function absolute(src) {
    return new URL(src, location.href).href;
  }

  function setSource(src, fallback) {
    if (player.src === absolute(src)) return;
    player.dataset.fallback = fallback || "";
    player.preload = "metadata"; // so the time can be set before playing: "none" would load nothing until play()
    player.src = src;
  }

  // URL audio plays from where it was published; if that fails, from the copy this server keeps.
  player.addEventListener("error", () => {
    const fallback = player.dataset.fallback;
    if (!fallback || player.src === absolute(fallback)) return;
    const at = pending ? pending.at : player.currentTime;
    const play = pending ? pending.play : !player.paused;
    player.src = fallback;
    playFrom(at, play);
  });
  if (player.error) player.dispatchEvent(new Event("error")); // failed before this script ran

  // -- search page: one player for every hit ----------------------------------------------------

  const bar = document.getElementById("nowplaying");
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.play");
    if (!button) return;
    setSource(button.dataset.src, button.dataset.fallback);
    playFrom(parseFloat(button.dataset.start));
    document.querySelectorAll("button.play.active").forEach((b) => b.classList.remove("active"));
    button.classList.add("active");
    if (bar) {
      bar.hidden = false;
      document.getElementById("nowplaying-label").textContent = button.dataset.label;
      document.getElementById("nowplaying-link").href = button.dataset.link;
    }
  });

  // -- transcript page ----------------------------------------------------------------------------

  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const words = Array.from(transcript.querySelectorAll(".w"));
  const starts = words.map((w) => parseFloat(w.dataset.s));
  const follow = document.getElementById("follow");
  const share = document.getElementById("share");
  let current = null;
  let userScrolledAt = 0;

  // The last word that starts at or before t (binary search: a 3-hour transcript has ~30k words).
  function wordAt(t) {
    let lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found < 0 ? null : words[found];
  }

  function highlight() {
    const word = wordAt(player.currentTime);
    if (word !== current) {
      if (current) current.classList.remove("now");
      if (word) word.classList.add("now");
      current = word;
      if (word && follow && follow.checked && !player.paused && Date.now() - userScrolledAt > 4000) {
        const box = word.getBoundingClientRect();
        if (box.top < window.innerHeight * 0.2 || box.bottom > window.innerHeight * 0.8) {
          word.scrollIntoView({ block: "center" });
        }
      }
    }
    if (share) share.href = "#t=" + Math.floor(player.currentTime);
  }

  // timeupdate fires about four times a second; while playing, follow every frame instead.
  function tick() {
    highlight();
    if (!player.paused) requestAnimationFrame(tick);
  }
  player.addEventListener("play", () => requestAnimationFrame(tick));
  player.addEventListener("seeked", highlight);
  player.addEventListener("timeupdate", highlight);
  for (const kind of ["wheel", "touchmove"]) {
    window.addEventListener(kind, () => { userScrolledAt = Date.now(); }, { passive: true });
  }

  transcript.addEventListener("click", (event) => {
    const target = event.target.closest("[data-s]");
    if (!target) return;
    event.preventDefault();
    const at = parseFloat(target.dataset.s);
    history.replaceState(null, "", "#t=" + at);
    playFrom(at);
  });

  function startFromFragment() {
    const at = fragmentStart();
    if (at !== null) playFrom(at);
  }
  window.addEventListener("hashchange", startFromFragment);
  if (fragmentStart() !== null) {
    startFromFragment();
  } else if (parseFloat(player.dataset.start) > 0) {
    playFrom(parseFloat(player.dataset.start), false); // part of a file: its part, not the file's start
  }
})();
