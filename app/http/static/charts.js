/* Small SVG charts, no dependencies: a segment timeline (Kafka offsets and time) and a line chart over time.
 *
 *   Charts.timeline(element, segments, {onPick})   segments as GET .../segments returns them
 *   Charts.lines(element, series, {yLabel, yFormat}) series: [{name, points: [[unixSeconds, value], ...]}]
 *
 * Both redraw from scratch (cheap at these sizes) and size themselves to the element's width.
 */
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
                   "#475569", "#ea580c"];

  function el(tag, attrs = {}, children = []) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    for (const c of [].concat(children)) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  /* "Nice" tick values between lo and hi (about n of them). */
  function ticks(lo, hi, n = 5) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  function timeTicks(lo, hi, n = 5) {  // lo/hi in ms
    const spans = [1e3, 5e3, 15e3, 30e3, 60e3, 300e3, 900e3, 1800e3, 3600e3, 6 * 3600e3, 86400e3, 7 * 86400e3];
    const raw = (hi - lo) / n;
    const step = spans.find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
    return out;
  }

  function fmtTime(ms, spanMs) {
    const d = new Date(ms);
    const iso = d.toISOString();
    if (spanMs > 2 * 86400e3) return iso.slice(5, 10) + " " + iso.slice(11, 16);
    if (spanMs > 120e3) return iso.slice(11, 16);
    return iso.slice(11, 19);
  }

  function fmtNum(v) {
    if (Math.abs(v) >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, "") + "G";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return String(Math.round(v * 100) / 100);
  }

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function width(element) {
    return Math.max(320, Math.floor(element.clientWidth || element.getBoundingClientRect().width || 800));
  }

  /* Two tracks over the same segments: Kafka offsets (bar height = size) and time ranges. */
  function timeline(element, segments, opts = {}) {
    element.replaceChildren();
    if (!segments.length) {
      element.appendChild(document.createTextNode("No segments."));
      return;
    }
    const W = width(element), pad = {l: 108, r: 16, t: 14, b: 8}, trackH = 70, gap = 46;
    const H = pad.t + trackH + gap + trackH + 34;
    const svg = el("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "chart timeline",
                           role: "img", "aria-label": "segment timeline"});
    const x0 = pad.l, x1 = W - pad.r;
    const terms = [...new Set(segments.map((s) => s.term))].sort((a, b) => a - b);
    const color = (term) => PALETTE[terms.indexOf(term) % PALETTE.length];
    const maxSize = Math.max(...segments.map((s) => s.size_bytes), 1);

    // Track 1: Kafka offsets
    const oLo = Math.min(...segments.map((s) => s.kafka_start_offset));
    const oHi = Math.max(...segments.map((s) => s.kafka_next_offset));
    const ox = (o) => x0 + ((o - oLo) / Math.max(1, oHi - oLo)) * (x1 - x0);
    const y1 = pad.t;
    svg.appendChild(el("text", {x: 8, y: y1 + 14, class: "track-label"}, "Kafka offsets"));
    svg.appendChild(el("text", {x: 8, y: y1 + 30, class: "track-sub"}, "height: size"));
    for (const t of ticks(oLo, oHi, 6)) {
      svg.appendChild(el("line", {x1: ox(t), x2: ox(t), y1: y1, y2: y1 + trackH, class: "grid"}));
      svg.appendChild(el("text", {x: ox(t), y: y1 + trackH + 14, class: "tick", "text-anchor": "middle"}, fmtNum(t)));
    }
    // Track 2: time
    const timed = segments.filter((s) => s.base_timestamp !== null && s.max_timestamp !== null);
    const tLo = timed.length ? Math.min(...timed.map((s) => s.base_timestamp)) : 0;
    const tHi = timed.length ? Math.max(...timed.map((s) => s.max_timestamp)) : 1;
    const tx = (t) => x0 + ((t - tLo) / Math.max(1, tHi - tLo)) * (x1 - x0);
    const y2 = y1 + trackH + gap;
    svg.appendChild(el("text", {x: 8, y: y2 + 14, class: "track-label"}, "Time (UTC)"));
    for (const t of timeTicks(tLo, tHi, 6)) {
      svg.appendChild(el("line", {x1: tx(t), x2: tx(t), y1: y2, y2: y2 + trackH, class: "grid"}));
      svg.appendChild(el("text", {x: tx(t), y: y2 + trackH + 14, class: "tick", "text-anchor": "middle"},
                          fmtTime(t, tHi - tLo)));
    }
    if (timed.length) {
      svg.appendChild(el("text", {x: x1, y: y2 + trackH + 30, class: "tick", "text-anchor": "end"},
                          new Date(tLo).toISOString().slice(0, 10)));
    }

    segments.forEach((s, i) => {
      const tip = `${s.name}\nKafka offsets ${s.kafka_start_offset}–${s.kafka_next_offset - 1}\n` +
        (s.base_timestamp !== null ? `${new Date(s.base_timestamp).toISOString()} → ${new Date(s.max_timestamp).toISOString()}\n` : "") +
        `${fmtBytes(s.size_bytes)} · term ${s.term}`;
      const h = Math.max(6, (s.size_bytes / maxSize) * (trackH - 8));
      const a = ox(s.kafka_start_offset), b = ox(s.kafka_next_offset);
      const bar = el("rect", {x: a, y: y1 + trackH - h, width: Math.max(1.5, b - a - 1), height: h,
                              fill: color(s.term), class: "seg", "data-index": i}, [el("title", {}, tip)]);
      svg.appendChild(bar);
      if (s.base_timestamp !== null && s.max_timestamp !== null) {
        const c = tx(s.base_timestamp), d = tx(s.max_timestamp);
        const lane = i % 2;  // alternate lanes so neighbours stay distinguishable
        svg.appendChild(el("rect", {x: c, y: y2 + 10 + lane * 26, width: Math.max(1.5, d - c), height: 22,
                                    fill: color(s.term), class: "seg", opacity: 0.85, "data-index": i},
                           [el("title", {}, tip)]));
      }
      if (opts.onPick) {
        for (const node of svg.querySelectorAll(`rect.seg[data-index="${i}"]`)) {
          node.addEventListener("click", () => opts.onPick(s));
        }
      }
    });
    // legend: terms
    let lx = x0;
    for (const term of terms.slice(0, 12)) {
      svg.appendChild(el("rect", {x: lx, y: H - 12, width: 10, height: 10, fill: color(term)}));
      svg.appendChild(el("text", {x: lx + 14, y: H - 3, class: "tick"}, `term ${term}`));
      lx += 70;
    }
    element.appendChild(svg);
  }

  /* Lines over time: series [{name, points: [[unixSeconds, value|null], ...]}]. */
  function lines(element, series, opts = {}) {
    element.replaceChildren();
    const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
    if (!pts.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = opts.empty || "No samples yet.";
      element.appendChild(p);
      return;
    }
    const W = width(element), H = opts.height || 230, pad = {l: 64, r: 16, t: 26, b: 40};
    const svg = el("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "chart lines", role: "img",
                           "aria-label": opts.yLabel || "chart"});
    let tLo = Math.min(...pts.map((p) => p[0])) * 1000, tHi = Math.max(...pts.map((p) => p[0])) * 1000;
    if (tHi - tLo < 10e3) tLo = tHi - 10e3;
    const vMax = Math.max(...pts.map((p) => p[1])) * 1.05 || 1;
    const coarse = ticks(0, vMax, 4);
    const step = coarse.length > 1 ? coarse[1] - coarse[0] : vMax;
    const vHi = Math.ceil(vMax / step) * step;  // the top grid line is a round value above the data
    const x = (t) => pad.l + ((t - tLo) / (tHi - tLo)) * (W - pad.l - pad.r);
    const y = (v) => H - pad.b - (v / vHi) * (H - pad.t - pad.b);
    const fmt = opts.yFormat || fmtNum;
    for (const v of ticks(0, vHi, 4)) {
      svg.appendChild(el("line", {x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: "grid"}));
      svg.appendChild(el("text", {x: pad.l - 6, y: y(v) + 4, class: "tick", "text-anchor": "end"}, fmt(v)));
    }
    for (const t of timeTicks(tLo, tHi, 6)) {
      svg.appendChild(el("text", {x: x(t), y: H - pad.b + 16, class: "tick", "text-anchor": "middle"},
                          fmtTime(t, tHi - tLo)));
    }
    if (opts.yLabel) {
      svg.appendChild(el("text", {x: pad.l, y: 12, class: "track-sub"}, opts.yLabel));
    }
    series.forEach((s, i) => {
      const valid = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
      if (!valid.length) return;
      const d = valid.map((p, j) => `${j ? "L" : "M"}${x(p[0] * 1000).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      const c = PALETTE[i % PALETTE.length];
      svg.appendChild(el("path", {d, fill: "none", stroke: c, "stroke-width": 2, class: "line"},
                         [el("title", {}, s.name)]));
      const last = valid[valid.length - 1];
      svg.appendChild(el("circle", {cx: x(last[0] * 1000), cy: y(last[1]), r: 3, fill: c},
                         [el("title", {}, `${s.name}: ${fmt(last[1])}`)]));
    });
    // legend: as many series as fit on one line, then "+N more"
    let lx = pad.l;
    const ly = H - 8;
    for (let i = 0; i < series.length; i++) {
      const need = 24 + series[i].name.length * 7;
      if (lx + need > W - pad.r - 60 && i > 0) {
        svg.appendChild(el("text", {x: lx, y: ly, class: "tick"}, `+${series.length - i} more`));
        break;
      }
      svg.appendChild(el("rect", {x: lx, y: ly - 9, width: 10, height: 10, fill: PALETTE[i % PALETTE.length]}));
      svg.appendChild(el("text", {x: lx + 14, y: ly, class: "tick"}, series[i].name));
      lx += need;
    }
    element.appendChild(svg);
  }

  return {timeline, lines, fmtBytes, fmtNum};
})();
