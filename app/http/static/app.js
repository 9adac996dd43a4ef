/* shadowreplica web page: overview, partition (segment timeline + lag chart), message browser, replication,
 * consumer groups (lag per partition, lag-over-time chart), SQL.
 *
 * Plain JS, no build step. Views are functions of the hash route (#/, #/partition/T/P, #/browse/T/P?...,
 * #/replication) that fetch the JSON API and build DOM with textContent only (record data is untrusted).
 * A 401 opens the token dialog; the token is kept in sessionStorage and sent as a bearer token.
 */
"use strict";

const $view = document.getElementById("view");
const $status = document.getElementById("status");
let refreshTimer = null;
let routeSerial = 0;

// ------------------------------------------------------------------------------------------ helpers

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const enc = encodeURIComponent;
const fmtBytes = Charts.fmtBytes;
const fmtInt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
const fmtTs = (ms) => (ms === null || ms === undefined ? "—" : new Date(ms).toISOString().replace("T", " ").replace("Z", ""));
const fmtSecs = (s) => {
  if (s === null || s === undefined) return "—";
  if (s < 1) return s.toFixed(2) + " s";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
};

function setStatus(text, kind = "") {
  $status.textContent = text;
  $status.className = "status " + kind;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, {retry = true} = {}) {
  const headers = {Accept: "application/json"};
  const token = sessionStorage.getItem("shadowreplica-token");
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, {headers});
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  if (resp.status === 401 && retry) {
    await askToken();
    return api(path, {retry: false});
  }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

function askToken() {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (input.value) sessionStorage.setItem("shadowreplica-token", input.value);
      resolve();
    }, {once: true});
    dialog.showModal();
  });
}

function errorBox(err) {
  const b = err.body || {};
  const lines = [h("strong", {}, `${err.status || ""} ${b.error || "Error"}`), " ", b.message || String(err)];
  if (b.start !== undefined && b.end !== undefined) lines.push(h("div", {class: "muted"}, `valid offsets: [${b.start}, ${b.end})`));
  if (b.key) lines.push(h("div", {class: "muted"}, `object ${b.key}` + (b.position !== undefined && b.position !== null ? ` at byte ${b.position}` : "")));
  return h("div", {class: "error", role: "alert"}, lines);
}

function params() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ------------------------------------------------------------------------------------------ views

async function overview(serial) {
  const [topics, repl] = await Promise.all([api("/topics"), api("/replication").catch(() => null)]);
  if (serial !== routeSerial) return;
  const lag = new Map((repl ? repl.partitions : []).map((p) => [`${p.topic}/${p.partition}`, p]));
  const children = [h("h1", {}, "Topics and partitions")];
  if (repl) children.push(h("p", {class: "muted"}, `Serving ${repl.dest || "this bucket"}` + (repl.source ? ` · source ${repl.source}` : "")));
  if (!topics.topics.length) children.push(h("p", {class: "muted"}, "No topics found in this bucket (yet)."));
  for (const t of topics.topics) {
    const rows = t.partitions.map((p) => {
      const r = lag.get(`${t.name}/${p.partition}`);
      return h("tr", {dataset: {topic: t.name, partition: p.partition}},
        h("td", {}, String(p.partition)),
        h("td", {class: "num"}, `${fmtInt(p.log_start_offset)} – ${fmtInt(p.high_watermark)}`),
        h("td", {class: "num"}, fmtInt(p.high_watermark - p.log_start_offset)),
        h("td", {}, `${fmtTs(p.first_timestamp)} → ${fmtTs(p.last_timestamp)}`),
        h("td", {class: "num"}, fmtBytes(p.size_bytes)),
        h("td", {class: "num"}, String(p.segments)),
        h("td", {class: "num"}, r && r.lag_offsets !== null ? `${fmtInt(r.lag_offsets)} · ${fmtSecs(r.lag_seconds)}` : "—"),
        h("td", {class: "actions"},
          h("a", {href: `#/partition/${enc(t.name)}/${p.partition}`}, "segments"), " ",
          h("a", {href: `#/browse/${enc(t.name)}/${p.partition}`, class: "browse-link"}, "browse")));
    });
    children.push(h("section", {class: "card"},
      h("h2", {}, t.name, h("span", {class: "muted small"}, ` ${t.partitions.length} partitions · ${fmtBytes(t.size_bytes)} · ${t.segments} segments`)),
      h("table", {class: "grid-table"},
        h("thead", {}, h("tr", {}, ["partition", "offsets [start – end)", "records", "time range (UTC)", "size", "segments", "lag (offsets · time)", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows))));
  }
  $view.replaceChildren(...children);
}

async function partitionView(serial, topic, partition) {
  const base = `/topics/${enc(topic)}/partitions/${partition}`;
  const [info, segs, hist] = await Promise.all([
    api(base), api(base + "/segments"),
    api(`/replication/history?topic=${enc(topic)}&partition=${partition}`).catch(() => null)]);
  if (serial !== routeSerial) return;
  const timeline = h("div", {class: "chart-box", id: "timeline"});
  const lagOffsets = h("div", {class: "chart-box", id: "lag-chart"});
  const table = h("table", {class: "grid-table"},
    h("thead", {}, h("tr", {}, ["segment", "Kafka offsets", "time (UTC)", "size", "term", "delta", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, segs.segments.map((s) => h("tr", {},
      h("td", {class: "mono"}, s.name),
      h("td", {class: "num"}, `${fmtInt(s.kafka_start_offset)} – ${fmtInt(s.kafka_next_offset - 1)}`),
      h("td", {}, `${fmtTs(s.base_timestamp)} → ${fmtTs(s.max_timestamp)}`),
      h("td", {class: "num"}, fmtBytes(s.size_bytes)),
      h("td", {class: "num"}, String(s.term)),
      h("td", {class: "num"}, `${s.delta_offset ?? "—"} → ${s.delta_offset_end ?? "—"}`),
      h("td", {class: "actions"},
        h("a", {href: `#/browse/${enc(topic)}/${partition}?offset=${s.kafka_start_offset}`}, "browse"), " ",
        h("a", {href: s.download, download: s.name}, "download"))))));
  $view.replaceChildren(
    h("h1", {}, `${topic} / ${partition}`),
    h("p", {class: "muted"}, `offsets [${fmtInt(info.log_start_offset)}, ${fmtInt(info.high_watermark)}) · ` +
      `${fmtTs(info.first_timestamp)} → ${fmtTs(info.last_timestamp)} · ${fmtBytes(info.size_bytes)} in ${info.segments} segments · manifest ${info.manifest.key}`),
    h("section", {class: "card"}, h("h2", {}, "Segment timeline"),
      h("p", {class: "muted small"}, "Each segment's Kafka offset range (bar height: size) and time range; colour: term. Click a segment to browse it."),
      timeline),
    h("section", {class: "card"}, h("h2", {}, "Replication lag over time"), lagOffsets),
    h("section", {class: "card"}, h("h2", {}, "Segments"), table));
  Charts.timeline(timeline, segs.segments, {onPick: (s) => go(`#/browse/${enc(topic)}/${partition}?offset=${s.kafka_start_offset}`)});
  const series = hist ? hist.series : [];
  Charts.lines(lagOffsets, series.map((s) => ({name: "lag (s)", points: s.points.map((p) => [p[0], p[2]])})),
    {yLabel: "seconds behind the source", yFormat: fmtSecs,
     empty: "No lag samples: the replication source is unknown (serve with --source, or run the replicator)."});
}

function recordRow(r) {
  const value = r.value_encoding === "json" ? JSON.stringify(r.value, null, 2) : (r.value === null ? "null" : String(r.value));
  const key = r.key === null ? h("span", {class: "muted"}, "null") : String(r.key);
  const headers = r.headers.length ? h("ul", {class: "headers"}, r.headers.map((x) =>
    h("li", {}, h("span", {class: "hkey"}, x.key), ": ", x.value === null ? h("span", {class: "muted"}, "null") : String(x.value),
      x.encoding && x.encoding !== "utf8" ? h("span", {class: "enc"}, x.encoding) : null))) : h("span", {class: "muted"}, "—");
  return h("tr", {class: "record", dataset: {offset: r.offset}},
    h("td", {class: "num mono"}, String(r.offset)),
    h("td", {class: "mono small"}, fmtTs(r.timestamp), r.timestamp_type === "LogAppendTime" ? h("div", {class: "enc"}, "log append") : null),
    h("td", {class: "mono"}, key, r.key_encoding && r.key_encoding !== "utf8" ? h("span", {class: "enc"}, r.key_encoding) : null),
    h("td", {class: "value"}, h("pre", {class: r.value_encoding === "json" ? "json" : ""}, value),
      r.value_encoding && r.value_encoding !== "utf8" ? h("span", {class: "enc"}, r.value_encoding) : null,
      r.batch.transactional ? h("span", {class: "enc"}, "transactional") : null),
    h("td", {}, headers));
}

async function browse(serial, topic, partition) {
  const topics = await api("/topics");
  if (serial !== routeSerial) return;
  const names = topics.topics.map((t) => t.name);
  if (!names.length) { $view.replaceChildren(h("p", {class: "muted"}, "No topics to browse.")); return; }
  topic = topic && names.includes(topic) ? topic : names[0];
  const tinfo = topics.topics.find((t) => t.name === topic);
  const parts = tinfo.partitions.map((p) => p.partition);
  partition = partition !== null && parts.includes(partition) ? partition : parts[0];
  const pinfo = tinfo.partitions.find((p) => p.partition === partition);
  const q = params();
  const limit = Math.min(Number(q.get("limit") || 20), 500);
  const decode = q.get("decode") || "auto";

  const topicSel = h("select", {id: "topic", "aria-label": "topic"}, names.map((n) => h("option", {value: n, selected: n === topic}, n)));
  const partSel = h("select", {id: "partition", "aria-label": "partition"}, parts.map((p) => h("option", {value: p, selected: p === partition}, String(p))));
  const offsetIn = h("input", {id: "offset", type: "number", min: pinfo.log_start_offset, max: pinfo.high_watermark, placeholder: "offset", value: q.get("offset") || ""});
  const timeIn = h("input", {id: "time", type: "text", placeholder: "2026-01-01T00:00:05Z or ms", value: q.get("timestamp") || "", size: 24});
  const keyIn = h("input", {id: "key", type: "text", placeholder: "key", value: q.get("key") || ""});
  const windowIn = h("input", {id: "window", type: "number", min: 1, placeholder: "window (offsets)", value: q.get("window") || ""});
  const limitSel = h("select", {id: "limit", "aria-label": "records per page"}, [10, 20, 50, 100, 200, 500].map((n) => h("option", {value: n, selected: n === limit}, `${n} / page`)));
  const decodeSel = h("select", {id: "decode", "aria-label": "value decoding"}, ["auto", "utf8", "json", "base64", "hex"].map((d) => h("option", {value: d, selected: d === decode}, d)));

  const nav = (extra) => {
    const p = new URLSearchParams({limit: limitSel.value, decode: decodeSel.value, ...extra});
    go(`#/browse/${enc(topicSel.value)}/${partSel.value}?${p}`);
  };
  topicSel.addEventListener("change", () => go(`#/browse/${enc(topicSel.value)}/0`));
  partSel.addEventListener("change", () => nav({}));
  const form = h("form", {class: "controls", id: "browse-form", onsubmit: (e) => { e.preventDefault(); nav(offsetIn.value ? {offset: offsetIn.value} : {}); }},
    h("label", {}, "Topic ", topicSel), h("label", {}, "Partition ", partSel),
    h("label", {}, "Offset ", offsetIn), h("button", {type: "submit", id: "go-offset"}, "Go"),
    h("span", {class: "sep"}),
    h("label", {}, "Time ", timeIn), h("button", {type: "button", id: "go-time", onclick: () => timeIn.value && nav({timestamp: timeIn.value.trim()})}, "Go"),
    h("span", {class: "sep"}),
    h("label", {}, "Key ", keyIn), windowIn, h("button", {type: "button", id: "go-key", onclick: () => keyIn.value && nav({key: keyIn.value, ...(windowIn.value ? {window: windowIn.value} : {}), ...(offsetIn.value ? {offset: offsetIn.value} : {})})}, "Search"),
    h("span", {class: "sep"}), limitSel, decodeSel);

  const results = h("div", {id: "results"}, h("p", {class: "muted"}, "Loading records…"));
  $view.replaceChildren(h("h1", {}, "Message browser"),
    h("p", {class: "muted"}, `${topic} / ${partition}: offsets [${fmtInt(pinfo.log_start_offset)}, ${fmtInt(pinfo.high_watermark)})`),
    form, results);

  const query = new URLSearchParams({limit: String(limit), decode});
  for (const k of ["offset", "timestamp", "key", "window"]) if (q.get(k)) query.set(k, q.get(k));
  let page;
  try {
    page = await api(`/topics/${enc(topic)}/partitions/${partition}/records?${query}`);
  } catch (err) {
    if (serial === routeSerial) results.replaceChildren(errorBox(err));
    return;
  }
  if (serial !== routeSerial) return;
  const start = page.start_offset;
  const prev = Math.max(page.log_start_offset, start - limit);
  const pager = h("div", {class: "pager"},
    h("button", {type: "button", id: "prev", disabled: start <= page.log_start_offset || q.get("key") !== null, onclick: () => nav({offset: prev})}, "◀ Previous"),
    h("span", {class: "muted"}, page.count
      ? `offsets ${fmtInt(page.records[0].offset)} – ${fmtInt(page.records[page.records.length - 1].offset)}` + (page.scanned ? ` · scanned ${fmtInt(page.scanned.from)} – ${fmtInt(page.scanned.to - 1)} for key` : "")
      : (page.scanned ? `no record with this key in offsets ${fmtInt(page.scanned.from)} – ${fmtInt(page.scanned.to - 1)}` : "no records from here")),
    h("button", {type: "button", id: "next", disabled: page.next_offset >= page.high_watermark, onclick: () => nav(q.get("key") ? {key: q.get("key"), offset: page.next_offset, ...(q.get("window") ? {window: q.get("window")} : {})} : {offset: page.next_offset})}, "Next ▶"));
  const table = h("table", {class: "grid-table records"},
    h("thead", {}, h("tr", {}, ["offset", "timestamp (UTC)", "key", "value", "headers"].map((c) => h("th", {}, c)))),
    h("tbody", {}, page.records.map(recordRow)));
  results.replaceChildren(pager, table);
  if (page.timestamp_match) offsetIn.value = page.timestamp_match.offset;
}

async function replicationView(serial) {
  const [status, hist] = await Promise.all([api("/replication"), api("/replication/history")]);
  if (serial !== routeSerial) return;
  const rows = status.partitions.map((p) => h("tr", {class: `state-${p.state}`},
    h("td", {}, `${p.topic} / ${p.partition}`),
    h("td", {class: "num"}, p.source ? fmtInt(p.source.high_watermark) : "—"),
    h("td", {class: "num"}, p.dest ? fmtInt(p.dest.high_watermark) : "—"),
    h("td", {class: "num"}, p.lag_offsets === null ? "—" : fmtInt(p.lag_offsets)),
    h("td", {class: "num"}, fmtSecs(p.lag_seconds)),
    h("td", {class: "num"}, p.restorable_up_to.offset === null ? "—" : fmtInt(p.restorable_up_to.offset)),
    h("td", {}, fmtTs(p.restorable_up_to.timestamp)),
    h("td", {}, h("span", {class: `badge ${p.state}`}, p.state.replace("_", " "))),
    h("td", {class: "small"}, p.last_error || "")));
  const chart = h("div", {class: "chart-box", id: "replication-chart"});
  const cost = status.cost, following = status.following;
  const costRows = Object.entries(cost.sides).flatMap(([side, ops]) => Object.entries(ops).map(([op, r]) =>
    h("tr", {}, h("td", {}, side), h("td", {}, op), h("td", {class: "num"}, fmtInt(Math.round(r.requests_per_hour))),
      h("td", {class: "num"}, `$${r.dollars_per_hour.toFixed(4)}`))));
  const queues = following.queues.map((q) => `${q.queue} (${q.healthy ? "answering" : "not answering: polling meanwhile"}, ${fmtInt(q.events)} events)`);
  const costCard = h("section", {class: "card"}, h("h2", {}, "What following costs"),
    h("p", {id: "following", class: "muted"}, `following by ${following.mode}` + (queues.length ? ` · ${queues.join(", ")}` : " (no --events-queue)") +
      ` · ${fmtInt(Math.round(cost.requests_per_hour))} requests per hour · $${cost.dollars_per_month.toFixed(2)} a month at $${cost.prices_per_1000.get} per 1,000 GETs and $${cost.prices_per_1000.write} per 1,000 LIST/PUT/COPY`),
    costRows.length === 0 ? h("p", {class: "muted"}, "No S3 request yet.") :
      h("table", {class: "grid-table", id: "cost-table"},
        h("thead", {}, h("tr", {}, ["side", "operation", "requests per hour", "dollars per hour"].map((c) => h("th", {}, c)))),
        h("tbody", {}, costRows)));
  $view.replaceChildren(
    h("h1", {}, "Replication"),
    h("p", {class: "muted"}, `mode: ${status.mode}` + (status.source ? ` · source ${status.source}` : "") + ` · destination ${status.dest || "this bucket"} · refreshes every 5 s`),
    h("section", {class: "card"}, h("h2", {}, "Lag over time (seconds)"), chart),
    h("section", {class: "card"}, h("table", {class: "grid-table", id: "replication-table"},
      h("thead", {}, h("tr", {}, ["partition", "source end", "destination end", "lag (offsets)", "lag (time)", "restorable up to", "restorable time (UTC)", "state", "last error"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows))),
    costCard);
  Charts.lines(chart, hist.series.map((s) => ({name: `${s.topic}/${s.partition}`, points: s.points.map((p) => [p[0], p[2]])})),
    {yLabel: "seconds behind the source", yFormat: fmtSecs,
     empty: status.mode === "bucket" ? "No source to compare with: serve with --source, or run the replicator." : "No samples yet."});
  setStatus(`updated ${new Date().toISOString().slice(11, 19)} UTC`);
}

async function sqlView(serial) {
  const q = params().get("q") || "SELECT redpanda.partition, count(*) AS records, max(redpanda.timestamp) AS newest\nFROM orders GROUP BY 1 ORDER BY 1";
  const box = h("textarea", {id: "sql-input", rows: 6, spellcheck: "false", "aria-label": "SQL query"});
  box.value = q;
  const results = h("div", {id: "sql-results"});
  const run = () => go(`#/sql?q=${enc(box.value)}`);
  box.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
  $view.replaceChildren(
    h("h1", {}, "SQL over the exported tables"),
    h("p", {class: "muted"}, "One read-only SELECT (DuckDB) over the Iceberg tables that shadowreplica export wrote: each topic is a table by its name and as redpanda.<topic>. Ctrl+Enter runs it."),
    h("section", {class: "card"}, box, h("menu", {}, h("button", {id: "sql-run", type: "button", onclick: run}, "Run"))),
    results);
  if (!params().get("q")) return;
  setStatus("running…");
  const res = await api(`/sql?q=${enc(q)}`).catch((err) => err);
  if (serial !== routeSerial) return;
  if (res instanceof Error) { results.replaceChildren(errorBox(res)); setStatus(""); return; }
  const cell = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v === null ? "NULL" : String(v));
  results.replaceChildren(
    h("p", {class: "muted"}, `${fmtInt(res.row_count)} rows${res.truncated ? " (cut at the row limit)" : ""} in ${fmtSecs(res.seconds)}`),
    h("section", {class: "card"}, h("table", {class: "grid-table", id: "sql-table"},
      h("thead", {}, h("tr", {}, res.columns.map((c, i) => h("th", {title: res.types[i]}, c)))),
      h("tbody", {}, res.rows.map((row) => h("tr", {}, row.map((v) => h("td", {}, cell(v)))))))));
  setStatus(`updated ${new Date().toISOString().slice(11, 19)} UTC`);
}

async function groupsView(serial, name) {
  const list = await api("/groups");
  if (serial !== routeSerial) return;
  const groups = list.groups;
  const pick = name || (groups[0] && groups[0].group);
  const rows = groups.map((g) => h("tr", {class: g.group === pick ? "selected" : ""},
    h("td", {}, h("a", {href: `#/groups/${enc(g.group)}`}, g.group)),
    h("td", {}, g.state),
    h("td", {class: "num"}, fmtInt(g.members.length)),
    h("td", {}, g.topics.join(", ")),
    h("td", {class: "num"}, fmtInt(g.lag_offsets)),
    h("td", {class: "num"}, fmtSecs(g.lag_seconds))));
  const detail = h("div", {id: "group-detail"});
  $view.replaceChildren(
    h("h1", {}, "Consumer groups"),
    h("p", {class: "muted"}, "Committed offsets in the bucket (through the shim, imported, or from Redpanda's offsets snapshots) against the replica's high watermarks · refreshes every 5 s"),
    h("section", {class: "card"}, groups.length === 0 ? h("p", {class: "muted"}, "No consumer group has offsets in this bucket.") :
      h("table", {class: "grid-table", id: "groups-table"},
        h("thead", {}, h("tr", {}, ["group", "state", "members", "topics", "lag (records)", "lag (time)"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows))),
    detail);
  if (!pick) return;
  const g = await api(`/groups/${enc(pick)}`);
  if (serial !== routeSerial) return;
  const chart = h("div", {class: "chart-box", id: "group-chart"});
  detail.replaceChildren(
    h("section", {class: "card"}, h("h2", {}, `${g.group}: lag over time (records)`), chart),
    h("section", {class: "card"},
      h("h2", {}, `Members (${g.members.length})`),
      g.members.length === 0 ? h("p", {class: "muted"}, `No member here (state ${g.state}).`) :
        h("ul", {id: "group-members"}, g.members.map((m) => h("li", {}, `${m.member_id} · ${m.client_id} · ${m.client_host}`)))),
    h("section", {class: "card"}, h("table", {class: "grid-table", id: "group-partitions"},
      h("thead", {}, h("tr", {}, ["partition", "committed", "high watermark", "lag (records)", "lag (time)", "source", "committed at (UTC)"].map((c) => h("th", {}, c)))),
      h("tbody", {}, g.partitions.map((p) => h("tr", {},
        h("td", {}, `${p.topic} / ${p.partition}`),
        h("td", {class: "num"}, fmtInt(p.committed_offset)),
        h("td", {class: "num"}, p.high_watermark === null ? "—" : fmtInt(p.high_watermark)),
        h("td", {class: "num"}, p.lag_offsets === null ? "—" : fmtInt(p.lag_offsets)),
        h("td", {class: "num"}, fmtSecs(p.lag_seconds)),
        h("td", {}, p.source),
        h("td", {}, fmtTs(p.commit_timestamp))))))));
  Charts.lines(chart, g.history.series.map((s) => ({name: `${s.topic}/${s.partition}`, points: s.points.map((p) => [p[0], p[1]])})),
    {yLabel: "records behind the high watermark", yFormat: fmtInt, empty: "No samples yet."});
  setStatus(`updated ${new Date().toISOString().slice(11, 19)} UTC`);
}

// ------------------------------------------------------------------------------------------ router

async function route() {
  const serial = ++routeSerial;
  if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
  const path = (location.hash.slice(1) || "/").split("?")[0];
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const section = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a[data-nav]")) a.classList.toggle("active", a.dataset.nav === (section === "partition" ? "overview" : section));
  setStatus("");
  try {
    if (section === "partition" && parts.length === 3) await partitionView(serial, parts[1], Number(parts[2]));
    else if (section === "browse") await browse(serial, parts[1] || null, parts[2] !== undefined ? Number(parts[2]) : null);
    else if (section === "sql") await sqlView(serial);
    else if (section === "groups") {
      await groupsView(serial, parts[1] || null);
      refreshTimer = setInterval(() => groupsView(serial, parts[1] || null).catch((e) => setStatus(e.message, "bad")), 5000);
    }
    else if (section === "replication") {
      await replicationView(serial);
      refreshTimer = setInterval(() => replicationView(serial).catch((e) => setStatus(e.message, "bad")), 5000);
    } else await overview(serial);
  } catch (err) {
    if (serial === routeSerial) $view.replaceChildren(errorBox(err));
  }
}

window.addEventListener("hashchange", route);
route();
