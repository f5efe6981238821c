// The status page: polls the JSON API every second and redraws. No libraries: the page
// ships in the wheel and must work without a network beyond this server.
"use strict";

const REFRESH_MS = 1000;
const SERIES = [
  ["inputRate", "Input rate (records/s)"],
  ["schedulingDelay", "Scheduling delay (ms)"],
  ["processingTime", "Processing time (ms)"],
  ["totalDelay", "Total delay (ms)"],
];
let api = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function ms(v) { return v === null || v === undefined ? "-" : `${v} ms`; }

async function get(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// One chart: the timeline of a series over the batches and its histogram beside it.
function chart(key, title, points, intervalMs) {
  const box = el("div", { class: "chart", id: `chart-${key}`, "data-points": points.length });
  box.append(el("h3", {}, title));
  const W = 400, H = 120, values = points.map((p) => p[1]);
  const max = Math.max(1, ...values, key === "inputRate" ? 0 : intervalMs);
  const timeline = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline",
                                preserveAspectRatio: "none" });
  if (key !== "inputRate" && intervalMs) {
    const y = H - (intervalMs / max) * (H - 4);
    timeline.append(svg("line", { class: "interval", x1: 0, x2: W, y1: y, y2: y }));
  }
  const step = points.length > 1 ? W / (points.length - 1) : 0;
  timeline.append(svg("polyline", {
    points: points.map((p, i) => `${(i * step).toFixed(1)},${(H - (p[1] / max) * (H - 4)).toFixed(1)}`).join(" "),
  }));
  const histogram = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "histogram",
                                 preserveAspectRatio: "none" });
  const bins = new Array(20).fill(0);
  for (const v of values) bins[Math.min(19, Math.floor((v / max) * 20))] += 1;
  const top = Math.max(1, ...bins);
  bins.forEach((n, i) => {
    const h = (n / top) * (H - 4);
    histogram.append(svg("rect", { x: i * (W / 20) + 1, width: W / 20 - 2, y: H - h, height: h,
                                   "data-count": n }));
  });
  const last = values.length ? values[values.length - 1] : null;
  box.append(timeline, histogram,
             el("div", {}, `last ${last === null ? "-" : Math.round(last)}, max ${Math.round(Math.max(0, ...values))}`));
  return box;
}

function render(stats, batches, receivers, inputs, outputs) {
  document.getElementById("summary").textContent =
    `Running since ${stats.startTime}, batch interval ${stats.batchDuration} ms; ` +
    `${stats.numTotalCompletedBatches} batches completed (${stats.numFailedBatches} failed), ` +
    `${stats.numActiveBatches} active; ${stats.numProcessedRecords} records processed; ` +
    `receivers ${stats.numActiveReceivers}/${stats.numReceivers} active.`;

  const done = batches.filter((b) => b.status === "COMPLETED").reverse();
  const charts = document.getElementById("charts");
  charts.replaceChildren(...SERIES.map(([key, title]) => {
    const points = done.map((b) => [b.batchId, key === "inputRate"
      ? b.inputSize / (stats.batchDuration / 1000) : (b[key] ?? 0)]);
    return chart(key, title, points, stats.batchDuration);
  }));

  const inputRows = [];
  for (const s of inputs) {
    const rate = s.backpressureRate === null ? "-" : Math.round(s.backpressureRate);
    const buffered = s.bufferedBytes === null ? "-" : `${(s.bufferedBytes / 1048576).toFixed(1)} MiB`;
    if (!s.kafkaPartitions.length) {
      inputRows.push(el("tr", {}, el("td", {}, `${s.streamId} ${s.name}`), el("td", {}, rate),
                        el("td", { class: "buffered" }, buffered),
                        el("td", {}, "-"), el("td", {}, "-"), el("td", {}, "-"), el("td", {}, "-")));
    }
    for (const p of s.kafkaPartitions) {
      inputRows.push(el("tr", { class: "kafka-partition" },
        el("td", {}, `${s.streamId} ${s.name}`), el("td", {}, rate), el("td", {}, "-"),
        el("td", {}, `${p.topic}/${p.partition}`), el("td", {}, `[${p.fromOffset}, ${p.untilOffset})`),
        el("td", {}, p.untilOffset - p.fromOffset), el("td", { class: "lag" }, p.lag ?? "-")));
    }
  }
  document.querySelector("#inputs tbody").replaceChildren(...inputRows);

  document.querySelector("#receivers tbody").replaceChildren(...receivers.map((r) =>
    el("tr", { class: r.isActive ? "active" : "inactive" },
      el("td", {}, r.streamId), el("td", {}, r.streamName),
      el("td", {}, r.isActive ? "ACTIVE" : "INACTIVE"), el("td", {}, r.executorHost),
      el("td", {}, r.avgEventRate === null ? "-" : Math.round(r.avgEventRate)),
      el("td", {}, r.numRecords),
      el("td", {}, r.lastErrorMessage ? `${r.lastErrorTime}: ${r.lastErrorMessage}` : ""))));

  document.getElementById("outputs").replaceChildren(...outputs.map((o) =>
    el("div", { class: "output" }, el("h3", {}, `${o.outputOpId}: ${o.name}`),
       el("pre", {}, o.explain))));

  document.querySelector("#batches tbody").replaceChildren(...batches.slice(0, 100).map((b) => {
    const failed = b.numFailedOutputOps > 0;
    const error = failed
      ? el("details", {}, el("summary", {}, (b.firstFailureReason || "").split("\n")[0]),
           el("pre", {}, b.firstFailureReason))
      : "";
    return el("tr", { class: `batch ${failed ? "failed" : b.status.toLowerCase()}`,
                      "data-batch-id": b.batchId },
      el("td", { title: b.batchTime }, b.batchTime.slice(11, 23)), el("td", { class: "status" }, failed ? "FAILED" : b.status),
      el("td", {}, b.inputSize), el("td", {}, ms(b.schedulingDelay)),
      el("td", {}, ms(b.processingTime)), el("td", {}, ms(b.totalDelay)),
      el("td", {}, `${b.numCompletedOutputOps} / ${b.numFailedOutputOps} / ${b.numTotalOutputOps}`),
      el("td", { class: "error" }, error));
  }));
}

async function refresh() {
  try {
    if (api === null) {
      const [app] = await get("/api/v1/applications");
      api = `/api/v1/applications/${encodeURIComponent(app.id)}/streaming`;
      document.getElementById("app-name").textContent = `: ${app.name} (${app.id})`;
    }
    const [stats, batches, receivers, inputs, outputs] = await Promise.all(
      ["statistics", "batches", "receivers", "inputs", "outputs"].map((p) => get(`${api}/${p}`)));
    render(stats, batches, receivers, inputs, outputs);
    document.getElementById("connection").textContent = "";
    document.body.dataset.updated = String(Date.now());
  } catch (err) {
    document.getElementById("connection").textContent = `Not updating: ${err.message}`;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
