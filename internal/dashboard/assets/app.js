// Personas dashboard. Polls the JSON API every 2 s and keeps a short
// history in the browser for the sparklines. Plain JavaScript, no
// dependencies, nothing loaded from elsewhere.
"use strict";

(() => {
  const POLL_MS = 2000;
  const HISTORY = 150; // points kept per sparkline (5 minutes at 2 s)
  const FEED_MAX = 30;
  const SVGNS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#7c9cff", "#34d399", "#f472b6", "#fbbf24", "#60a5fa", "#a78bfa",
    "#fb923c", "#2dd4bf", "#f87171", "#a3e635", "#e879f9", "#38bdf8"];

  const state = {
    overview: null,
    window: null,
    prevStats: null,
    rates: { in: [], out: [], agg: [], dlq: [], bots: [], changes: [] },
    history: {}, // window -> persona -> visitors[]
    seen: new Set(),
    feedLoaded: false,
    color: {},
    title: {},
    segTitle: {},
    lastFigures: null,
  };

  // ---------- helpers ----------

  const $ = (id) => document.getElementById(id);

  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function s(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  const nf = new Intl.NumberFormat("en");
  const num = (n) => (n == null || Number.isNaN(n) ? "–" : nf.format(Math.round(n)));
  function perSec(n) {
    if (n == null || !Number.isFinite(n)) return "–";
    return n < 10 ? n.toFixed(1) : nf.format(Math.round(n));
  }
  const pct = (x) => (x == null || !Number.isFinite(x) ? "–" : (x * 100 >= 10 ? Math.round(x * 100) : (x * 100).toFixed(1)) + "%");
  const clock = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  };
  const push = (arr, v) => { arr.push(v); if (arr.length > HISTORY) arr.shift(); };

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    let body = {};
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
    return body;
  }

  // spark draws values (nulls count as 0) as a line with a soft area
  // below, stretched over the whole width.
  function spark(values, color, w = 240, hgt = 34) {
    const svg = s("svg", { class: "spark", viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    const vs = values.map((v) => (v == null || !Number.isFinite(v) ? 0 : v));
    if (vs.length < 2) {
      svg.appendChild(s("line", { x1: 0, x2: w, y1: hgt - 1, y2: hgt - 1, stroke: color, "stroke-opacity": ".3", "stroke-dasharray": "3 4" }));
      return svg;
    }
    const max = Math.max(...vs, 1e-9);
    const step = w / (vs.length - 1);
    const pts = vs.map((v, i) => [i * step, hgt - 2 - (v / max) * (hgt - 5)]);
    const line = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join("");
    svg.appendChild(s("path", { class: "area", d: `${line}L${w} ${hgt}L0 ${hgt}Z`, fill: color, "fill-opacity": ".14" }));
    svg.appendChild(s("path", { class: "line", d: line, stroke: color }));
    return svg;
  }

  function setLive(ok, msg) {
    const live = $("live");
    live.dataset.state = ok ? "live" : "error";
    $("live-text").textContent = msg;
  }

  // ---------- start ----------

  async function start() {
    let ov;
    for (;;) {
      try { ov = await getJSON("/api/overview"); break; } catch (e) {
        setLive(false, "cannot reach the process — retrying");
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    state.overview = ov;
    ov.personas.forEach((p, i) => {
      state.color[p.name] = PALETTE[i % PALETTE.length];
      state.title[p.name] = p.title || p.name;
    });
    ov.segments.forEach((sg) => { state.segTitle[sg.name] = sg.title || sg.name; });
    state.window = ov.default_window || ov.windows[0];
    buildHeader(ov);
    buildKPIs(ov);
    $("sample-next").addEventListener("click", loadSample);
    loadSample();
    poll();
    setInterval(poll, POLL_MS);
  }

  function buildHeader(ov) {
    const mode = $("mode");
    mode.hidden = false;
    if (ov.mode === "demo") {
      mode.textContent = "Demo";
      mode.title = "Everything runs in one process: in-process Kafka broker, in-process Redis, synthetic traffic";
    } else {
      mode.textContent = "Live";
      mode.classList.add("prod");
    }
    if (ov.notes && ov.notes.length) {
      const notes = $("notes");
      notes.hidden = false;
      notes.appendChild(h("strong", null, "Demo settings"));
      ov.notes.forEach((n) => notes.appendChild(h("span", null, n)));
    }
    const wins = $("windows");
    ov.windows.forEach((w) => {
      const b = h("button", null, w);
      b.type = "button";
      b.setAttribute("role", "radio");
      b.setAttribute("aria-checked", String(w === state.window));
      b.title = `Figures over the last ${w}`;
      b.addEventListener("click", () => {
        state.window = w;
        for (const o of wins.children) o.setAttribute("aria-checked", String(o.textContent === w));
        poll();
      });
      wins.appendChild(b);
    });
    document.querySelectorAll(".k-thr").forEach((e) => { e.textContent = `k = ${ov.k}`; });
    $("k-note").textContent = `k = ${ov.k}: a persona needs ≥ ${ov.threshold} visitors to be shown`;
    $("foot-k").textContent =
      `Every figure on this page passed the k-anonymity gate: a persona, category or flow is shown only when it describes ` +
      `at least k = ${ov.k} visitors in the window (an estimate of ${ov.threshold} or more); below that it is suppressed, not rounded.`;
    $("feed-topic").textContent = ov.topics[2] || "";
  }

  const KPIS = [
    { id: "in", label: "Events in", unit: "/s", color: "#7c9cff" },
    { id: "out", label: "Anonymized", unit: "/s", color: "#34d399" },
    { id: "agg", label: "Aggregated", unit: "/s", color: "#2dd4bf" },
    { id: "dlq", label: "Dead-lettered", unit: "/s", color: "#f87171" },
    { id: "bots", label: "Bot events", unit: "/s", color: "#fbbf24" },
    { id: "changes", label: "Segment changes", unit: "", color: "#a78bfa" },
  ];

  function buildKPIs() {
    const box = $("kpis");
    for (const k of KPIS) {
      const tile = h("div", "kpi");
      tile.id = "kpi-" + k.id;
      tile.appendChild(h("div", "label", k.label));
      const v = h("div", "value", "–");
      tile.appendChild(v);
      tile.appendChild(h("div", "detail", ""));
      tile.appendChild(spark([], k.color));
      box.appendChild(tile);
    }
  }

  function setKPI(id, value, unit, detail) {
    const k = KPIS.find((x) => x.id === id);
    const tile = $("kpi-" + id);
    const v = tile.querySelector(".value");
    v.textContent = value;
    if (unit) v.appendChild(h("span", "unit", unit));
    tile.querySelector(".detail").textContent = detail || "";
    tile.replaceChild(spark(state.rates[id], k.color), tile.querySelector("svg"));
  }

  // ---------- polling ----------

  async function poll() {
    const win = state.window;
    const [st, fig, ch] = await Promise.allSettled([
      getJSON("/api/stats"),
      getJSON("/api/figures?window=" + encodeURIComponent(win)),
      getJSON("/api/changes?limit=" + FEED_MAX),
    ]);
    if (st.status === "fulfilled") renderStats(st.value);
    if (fig.status === "fulfilled" && win === state.window) renderFigures(fig.value);
    if (ch.status === "fulfilled") renderChanges(ch.value);
    const failed = [st, fig, ch].find((r) => r.status === "rejected");
    if (failed) setLive(false, failed.reason.message.slice(0, 80));
    else setLive(true, "live · " + new Date().toLocaleTimeString([], { hour12: false }));
  }

  function renderStats(st) {
    const prev = state.prevStats;
    state.prevStats = st;
    if (st.shop_clock) {
      const c = $("clock");
      c.hidden = false;
      c.textContent = "";
      c.append("Shop clock ");
      c.appendChild(h("b", null, st.shop_clock));
    }
    const changes = st.entered + st.exited;
    if (!prev) {
      setKPI("changes", num(changes), "", `▲ ${num(st.entered)} entered · ▼ ${num(st.exited)} exited`);
      return;
    }
    const dt = (new Date(st.time) - new Date(prev.time)) / 1000;
    if (!(dt > 0)) return;
    const r = (a, b) => Math.max(0, (a - b) / dt);
    const rin = r(st.ingest_in, prev.ingest_in);
    push(state.rates.in, rin);
    push(state.rates.out, r(st.ingest_out, prev.ingest_out));
    push(state.rates.agg, r(st.aggregate_out, prev.aggregate_out));
    push(state.rates.dlq, r(st.dlq_total, prev.dlq_total));
    push(state.rates.bots, r(st.bots, prev.bots));
    push(state.rates.changes, changes - (prev.entered + prev.exited));
    const gen = st.generated ? `generator ${perSec(r(st.generated, prev.generated))}/s · ` : "";
    setKPI("in", perSec(rin), "/s", `${gen}${num(st.ingest_in)} total`);
    setKPI("out", perSec(state.rates.out.at(-1)), "/s", `${num(st.ingest_out)} to personas.events.v1`);
    setKPI("agg", perSec(state.rates.agg.at(-1)), "/s", `${num(st.aggregate_out)} applied to Redis`);
    setKPI("dlq", perSec(state.rates.dlq.at(-1)), "/s", `${num(st.dlq_total)} total · ${pct(st.ingest_in ? st.dlq_total / st.ingest_in : null)} of input`);
    setKPI("bots", perSec(state.rates.bots.at(-1)), "/s", `${num(st.bots)} total · ${pct(st.ingest_in ? st.bots / st.ingest_in : null)} of input`);
    setKPI("changes", num(changes), "", `▲ ${num(st.entered)} entered · ▼ ${num(st.exited)} exited`);
    renderDLQ(st);
  }

  function renderDLQ(st) {
    const box = $("dlq");
    box.textContent = "";
    const rows = Object.entries(st.dlq || {}).sort((a, b) => b[1] - a[1]);
    $("dlq-total").textContent = `${num(st.dlq_total)} records`;
    if (!rows.length) {
      box.appendChild(h("p", "empty", "Nothing dead-lettered yet."));
    }
    const max = rows.length ? rows[0][1] : 1;
    for (const [reason, n] of rows) {
      const row = h("div", "brow");
      row.appendChild(h("span", "r", reason));
      const bar = h("span", "bar");
      const fill = h("i");
      fill.style.width = Math.max(2, (n / max) * 100) + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(h("span", "n", num(n)));
      box.appendChild(row);
    }
    $("bots-total").textContent = num(st.bots);
  }

  function renderFigures(f) {
    state.lastFigures = f;
    const hist = (state.history[f.window] ||= {});
    $("personas-sub").textContent = `last ${f.window} · ${num(f.visitors)} visitors · ${num(f.events)} events`;
    $("flows-sub").textContent = `last ${f.window}`;
    $("bots-window").textContent = f.bots != null ? `${num(f.bots)} bot events in the last ${f.window}` : `Bot events in the last ${f.window}: fewer than k, not shown`;

    const inSeg = segmentsByPersona();
    const cards = $("cards");
    cards.textContent = "";
    let shown = 0;
    for (const p of f.personas) {
      const series = (hist[p.persona] ||= []);
      push(series, p.suppressed ? null : p.visitors);
      const card = h("article", "card" + (p.suppressed ? " suppressed" : ""));
      card.style.setProperty("--c", state.color[p.persona] || "#7c9cff");
      card.dataset.persona = p.persona;
      card.appendChild(h("div", "title", state.title[p.persona] || p.persona));
      card.appendChild(h("div", "name", p.persona));
      if (p.suppressed) {
        const lock = h("div", "lock");
        const ico = s("svg", { viewBox: "0 0 24 24" });
        ico.appendChild(s("rect", { x: 5, y: 11, width: 14, height: 10, rx: 2 }));
        ico.appendChild(s("path", { d: "M8 11V8a4 4 0 0 1 8 0v3" }));
        lock.appendChild(ico);
        const txt = h("div");
        txt.appendChild(h("b", null, "Suppressed. "));
        txt.append(`Fewer than ${f.threshold} visitors in the last ${f.window}: nothing about this crowd is published.`);
        lock.appendChild(txt);
        card.appendChild(lock);
        card.appendChild(spark(series, "#5d6a88", 240, 30));
      } else {
        shown++;
        const nums = h("div", "nums");
        const v = h("div", "visitors", num(p.visitors));
        v.appendChild(h("small", null, "visitors"));
        const e = h("div", "events", num(p.events));
        e.appendChild(h("small", null, "events"));
        nums.append(v, e);
        card.appendChild(nums);
        card.appendChild(spark(series, state.color[p.persona] || "#7c9cff", 240, 30));
        const cats = h("div", "cats");
        const top = Object.entries(p.by_category || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
        if (!top.length) cats.appendChild(h("div", "cat", "no category of ≥ k events"));
        for (const [name, n] of top) {
          const row = h("div", "cat");
          row.appendChild(h("span", null, name));
          const bar = h("span", "bar");
          const fill = h("i");
          fill.style.width = (p.events ? (n / p.events) * 100 : 0) + "%";
          bar.appendChild(fill);
          row.appendChild(bar);
          row.appendChild(h("span", "pct", pct(p.events ? n / p.events : null)));
          cats.appendChild(row);
        }
        card.appendChild(cats);
      }
      const segs = inSeg[p.persona] || [];
      if (segs.length) {
        const chips = h("div", "chips");
        segs.forEach((sg) => {
          const c = h("span", "seg-chip", state.segTitle[sg] || sg);
          c.title = "In segment " + sg;
          chips.appendChild(c);
        });
        card.appendChild(chips);
      }
      cards.appendChild(card);
    }
    document.body.dataset.personas = String(shown);
    renderFlows(f);
  }

  function segmentsByPersona() {
    const out = {};
    for (const st of state.lastStates || []) {
      if (st.in) (out[st.persona] ||= []).push(st.segment);
    }
    return out;
  }

  // renderFlows draws a two-column Sankey: on the left the personas visitors
  // left, on the right the personas they moved into; band widths are
  // proportional to visitors.
  function renderFlows(f) {
    const svg = $("flows");
    svg.textContent = "";
    const flows = (f.flows || []).filter((x) => x.visitors > 0);
    $("flows-empty").hidden = flows.length > 0;
    svg.style.display = flows.length ? "" : "none";
    document.body.dataset.flows = String(flows.length);
    if (!flows.length) return;
    const W = Math.max(420, Math.round(svg.parentNode.clientWidth || 560));
    const top = 24, gap = 6, nodeW = 9, minSlot = 19;
    const outSum = {}, inSum = {};
    for (const x of flows) {
      outSum[x.from] = (outSum[x.from] || 0) + x.visitors;
      inSum[x.to] = (inSum[x.to] || 0) + x.visitors;
    }
    // Room for the longest label on either side.
    const probe = s("text");
    svg.appendChild(probe);
    let longest = 0;
    for (const [m, names] of [[outSum, Object.keys(outSum)], [inSum, Object.keys(inSum)]]) {
      for (const name of names) {
        probe.textContent = `${state.title[name] || name} ${num(m[name])}`;
        longest = Math.max(longest, probe.getComputedTextLength());
      }
    }
    probe.remove();
    const labelW = Math.min(Math.ceil(longest) + 12, Math.round(W * 0.38));
    const order = (m) => Object.keys(m).sort((a, b) => m[b] - m[a]);
    const left = order(outSum), right = order(inSum);
    const total = flows.reduce((a, x) => a + x.visitors, 0);
    const n = Math.max(left.length, right.length);
    const scale = Math.max(150, n * 22) / total;
    const place = (names, sums) => {
      const pos = {};
      let y = top;
      for (const name of names) {
        const hh = Math.max(2, sums[name] * scale);
        pos[name] = { y: y + Math.max(0, (minSlot - hh) / 2), h: hh, off: 0 };
        y += Math.max(hh, minSlot) + gap;
      }
      return { pos, end: y };
    };
    const L = place(left, outSum), R = place(right, inSum);
    const H = Math.max(L.end, R.end) + 4;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    const xL = labelW, xR = W - labelW - nodeW;
    const colL = s("text", { x: xL + nodeW, y: 11, class: "col", "text-anchor": "end" });
    colL.textContent = "from";
    const colR = s("text", { x: xR, y: 11, class: "col" });
    colR.textContent = "to";
    svg.append(colL, colR);
    for (const x of flows.slice().sort((a, b) => b.visitors - a.visitors)) {
      const a = L.pos[x.from], b = R.pos[x.to];
      const w = Math.max(1.5, x.visitors * scale);
      const y1 = a.y + a.off + w / 2, y2 = b.y + b.off + w / 2;
      a.off += w;
      b.off += w;
      const x1 = xL + nodeW, x2 = xR, mx = (x1 + x2) / 2;
      const p = s("path", { class: "flow", d: `M${x1} ${y1.toFixed(1)}C${mx} ${y1.toFixed(1)} ${mx} ${y2.toFixed(1)} ${x2} ${y2.toFixed(1)}`,
        stroke: state.color[x.from] || "#7c9cff", "stroke-width": w.toFixed(1) });
      const t = s("title");
      t.textContent = `${state.title[x.from] || x.from} → ${state.title[x.to] || x.to}: ${num(x.visitors)} visitors`;
      p.appendChild(t);
      svg.appendChild(p);
    }
    const node = (name, pos, x, onLeft, sum) => {
      svg.appendChild(s("rect", { class: "node", x, y: pos.y.toFixed(1), width: nodeW, height: pos.h.toFixed(1), fill: state.color[name] || "#7c9cff" }));
      const label = s("text", { x: onLeft ? x - 7 : x + nodeW + 7, y: (pos.y + pos.h / 2 + 4).toFixed(1), "text-anchor": onLeft ? "end" : "start" });
      const nm = s("tspan");
      nm.textContent = state.title[name] || name;
      const cnt = s("tspan", { class: "n" });
      cnt.textContent = " " + num(sum);
      label.append(nm, cnt);
      svg.appendChild(label);
    };
    left.forEach((name) => node(name, L.pos[name], xL, true, outSum[name]));
    right.forEach((name) => node(name, R.pos[name], xR, false, inSum[name]));
  }

  function renderChanges(c) {
    state.lastStates = c.states || [];
    const feed = $("feed");
    const list = c.changes || [];
    $("feed-empty").hidden = list.length > 0;
    if (c.error && !list.length) $("feed-empty").textContent = c.error;
    feed.textContent = "";
    for (const ev of list.slice(0, FEED_MAX)) {
      const entered = ev.type === "segment.entered";
      const li = h("li", entered ? "entered" : "exited");
      if (state.feedLoaded && !state.seen.has(ev.event_id)) li.classList.add("fresh");
      state.seen.add(ev.event_id);
      li.appendChild(h("span", "ico", entered ? "▲" : "▼"));
      const what = h("div", "what");
      what.append(state.title[ev.persona] || ev.persona, " ");
      what.appendChild(h("span", "verb", entered ? "entered " : "left "));
      what.append(ev.title || state.segTitle[ev.segment] || ev.segment);
      what.title = `${ev.type}: ${ev.segment} / ${ev.persona} (sequence ${ev.sequence})`;
      li.appendChild(what);
      li.appendChild(h("span", "when", clock(ev.evaluated_at)));
      const meta = h("div", "meta");
      const who = h("span");
      const dot = h("span", "persona-dot");
      dot.style.background = state.color[ev.persona] || "#7c9cff";
      who.append(dot, ev.persona);
      meta.appendChild(who);
      meta.appendChild(h("span", null, ev.window + " window"));
      const fg = ev.figures || {};
      meta.appendChild(h("span", null, fg.suppressed ? "fell below k" : num(fg.visitors) + " visitors"));
      li.appendChild(meta);
      feed.appendChild(li);
    }
    state.feedLoaded = true;
    document.body.dataset.feed = String(list.length);
  }

  // ---------- the synthetic sample ----------

  async function loadSample() {
    const btn = $("sample-next");
    btn.disabled = true;
    try {
      const smp = await getJSON("/api/sample");
      renderCode($("sample-raw"), smp.raw);
      renderCode($("sample-anon"), smp.anonymized);
      const parts = [`${smp.removed} values removed`, `${smp.changed} generalised`, `${smp.kept} kept`, `${smp.added} added`];
      if (smp.scrubbed && smp.scrubbed !== "none") parts.push(`scrubbed: ${smp.scrubbed}`);
      $("sample-summary").textContent = parts.join(" · ");
      document.body.dataset.sample = String(smp.raw.length);
    } catch (e) {
      $("sample-summary").textContent = "No sample: " + e.message;
    } finally {
      btn.disabled = false;
    }
  }

  function renderCode(pre, lines) {
    pre.textContent = "";
    for (const ln of lines) {
      const d = h("div", "ln" + (ln.mark ? " m-" + ln.mark : ""));
      d.style.paddingLeft = 12 + ln.indent * 16 + "px";
      if (ln.key) {
        d.appendChild(h("span", "k", JSON.stringify(ln.key)));
        d.append(": ");
      }
      d.appendChild(h("span", "v", ln.text));
      if (ln.comma) d.append(",");
      if (ln.note) d.appendChild(h("span", "note", ln.note));
      pre.appendChild(d);
    }
  }

  start();
})();
