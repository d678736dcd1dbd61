// Run page: waveform of both tracks, the transcript in step with playback, click to seek.
(function () {
  const audio = document.getElementById("audio");
  const canvas = document.getElementById("waveform");
  const lines = Array.from(document.querySelectorAll("#transcript li"));
  let wave = null;

  function draw() {
    if (!canvas || !wave) return;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr); ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const half = h / 2;
    [["caller", css.getPropertyValue("--caller"), 0], ["agent", css.getPropertyValue("--agent"), half]].forEach(([key, color, top]) => {
      const peaks = wave[key]; ctx.fillStyle = color.trim() || "#555";
      const step = w / Math.max(peaks.length, 1);
      peaks.forEach((p, i) => { const bar = Math.max(1, p * (half - 6)); ctx.fillRect(i * step, top + half / 2 - bar / 2, Math.max(step - 0.5, 0.5), bar); });
    });
    if (audio && wave.seconds) {
      const x = (audio.currentTime / wave.seconds) * w;
      ctx.fillStyle = "#d92d20"; ctx.fillRect(x, 0, 2, h);
    }
  }

  function seek(t) { if (!audio) return; audio.currentTime = t; audio.play().catch(() => {}); }

  if (canvas) {
    fetch(canvas.dataset.url).then((r) => r.json()).then((data) => { wave = data; draw(); });
    canvas.addEventListener("click", (ev) => { if (wave) seek((ev.offsetX / canvas.clientWidth) * wave.seconds); });
    window.addEventListener("resize", draw);
  }
  lines.forEach((li) => {
    const go = () => seek(parseFloat(li.dataset.start));
    li.addEventListener("click", go);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
  });
  if (audio) audio.addEventListener("timeupdate", () => {
    const t = audio.currentTime;
    let current = null;
    for (const li of lines) { if (t >= parseFloat(li.dataset.start) - 0.05 && t < parseFloat(li.dataset.end) + 0.05) current = li; }
    lines.forEach((li) => li.classList.toggle("playing", li === current));
    draw();
  });

  // A run still going: reload when it ends.
  const facts = document.getElementById("run-facts");
  if (facts && facts.dataset.terminal === "0") {
    const poll = () => fetch(facts.dataset.statusUrl).then((r) => r.json()).then((s) => {
      if (s.terminal) window.location.reload(); else setTimeout(poll, 2000);
    }).catch(() => setTimeout(poll, 4000));
    setTimeout(poll, 2000);
  }
})();
