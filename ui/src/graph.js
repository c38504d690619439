// A pipeline's graph, drawn from its definition: components (name, type, their last runs' timings from GET /stats), the sockets
// each connection joins, and the friendly inputs and outputs. Laid out by dagre and drawn as SVG here: no
// outside service (Haystack's draw() calls mermaid.ink).

import dagre from "@dagrejs/dagre";
import { parse } from "yaml";
import { api, pipelinePath } from "./api.js";
import { formatSeconds, h } from "./dom.js";
import { guarded } from "./notices.js";

const SVG = "http://www.w3.org/2000/svg";
const CHAR = 7.4; // px per character of the 12-13px UI font, for sizing boxes before they are drawn

export function showGraph(panel, context) {
  const figure = h("figure#graph.graph", {});
  const legend = h("p.muted.small", {}, "Timings: mean and p95 of each component's last runs (up to 100, as the server process that answered GET /stats saw them).");
  panel.append(figure, legend);
  guarded(async () => {
    const [schema, stats] = await Promise.all([
      api(pipelinePath(context.name, "/schema")).catch(() => null),
      api("/stats").catch(() => ({ pipelines: [] })),
    ]);
    // The last runs where this process has seen some; else the totals since start-up (another process ran them).
    const timings = new Map((stats.pipelines.find((p) => p.name === context.name)?.components || []).map((c) => [c.name, c.recent || c]));
    figure.replaceChildren(draw(model(context.pipeline.yaml, schema), timings, context.name));
  }, "Graph");
}

/** Components, connections and friendly inputs/outputs from the YAML (and the run schema, for inputs the YAML
 * does not map). */
export function model(text, schema) {
  const definition = parse(text) || {};
  const components = Object.entries(definition.components || {}).map(([name, spec]) => ({
    name, type: String(spec?.type || "?").split(".").pop(),
  }));
  const split = (address) => {
    const at = String(address).indexOf(".");
    return at < 0 ? [String(address), ""] : [String(address).slice(0, at), String(address).slice(at + 1)];
  };
  const edges = (definition.connections || []).map((c) => {
    const [from, out] = split(c.sender);
    const [to, input] = split(c.receiver);
    return { from, to, label: out === input ? out : `${out} → ${input}` };
  });
  const inputs = [];
  const outputs = [];
  if (definition.inputs) {
    for (const [friendly, targets] of Object.entries(definition.inputs)) {
      for (const target of [targets].flat()) {
        const [to, socket] = split(target);
        inputs.push({ name: friendly, to, label: socket === friendly ? "" : socket });
      }
    }
  } else if (schema) {
    const flat = schema.inputs.anyOf[0].properties || {};
    const perComponent = schema.inputs.anyOf[1]?.properties || {};
    for (const friendly of Object.keys(flat)) {
      for (const [component, sockets] of Object.entries(perComponent)) {
        if (friendly in (sockets.properties || {})) inputs.push({ name: friendly, to: component, label: "" });
      }
    }
  }
  if (definition.outputs) {
    for (const [friendly, source] of Object.entries(definition.outputs)) {
      const [from, socket] = split(source);
      outputs.push({ name: friendly, from, label: socket === friendly ? "" : socket });
    }
  } else if (schema) {
    for (const [component, sockets] of Object.entries(schema.outputs.properties || {})) {
      for (const socket of Object.keys(sockets.properties || {})) outputs.push({ name: socket, from: component, label: "" });
    }
  }
  return { components, edges, inputs, outputs };
}

function draw({ components, edges, inputs, outputs }, timings, pipeline) {
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 70, edgesep: 12, marginx: 12, marginy: 12 });
  const known = new Set(components.map((c) => c.name));
  for (const c of components) {
    const timing = timings.get(c.name);
    const lines = [c.name, c.type, timing ? `${formatSeconds(timing.mean_seconds)} · p95 ${formatSeconds(timing.p95_seconds)}` : ""];
    graph.setNode(`c:${c.name}`, { kind: "component", lines, timing, width: Math.max(...lines.map((l) => l.length)) * CHAR + 24, height: timing ? 62 : 46 });
  }
  const io = (key, kind, name) => graph.setNode(key, { kind, lines: [name], width: name.length * CHAR + 28, height: 30 });
  const edge = (from, to, label, index) => graph.setEdge(from, to, { label, width: label.length * 6.4, height: label ? 14 : 0, labelpos: "c" }, `e${index}`);
  let index = 0;
  for (const e of edges) if (known.has(e.from) && known.has(e.to)) edge(`c:${e.from}`, `c:${e.to}`, e.label, index++);
  for (const i of inputs) if (known.has(i.to)) { io(`i:${i.name}`, "input", i.name); edge(`i:${i.name}`, `c:${i.to}`, i.label, index++); }
  for (const o of outputs) if (known.has(o.from)) { io(`o:${o.name}`, "output", o.name); edge(`c:${o.from}`, `o:${o.name}`, o.label, index++); }
  dagre.layout(graph);

  const { width, height } = graph.graph();
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, width, role: "img", "aria-labelledby": "graph-title", class: "graph-svg" });
  svg.append(element("title", { id: "graph-title" }, `Graph of ${pipeline}: ${components.length} components, ${edges.length} connections`));
  const defs = element("defs");
  const marker = element("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(element("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  const slowest = Math.max(0, ...[...timings.values()].map((t) => t.mean_seconds || 0));
  for (const key of graph.edges()) {
    const e = graph.edge(key);
    const points = e.points.map((p) => `${p.x},${p.y}`);
    svg.append(element("path", { d: `M${points.join(" L")}`, class: "edge", "marker-end": "url(#arrow)" }));
    if (e.label) svg.append(element("text", { x: e.x, y: e.y + 4, class: "edge-label", "text-anchor": "middle" }, e.label));
  }
  for (const key of graph.nodes()) {
    const n = graph.node(key);
    const group = element("g", { class: `node ${n.kind}`, tabindex: 0, "data-node": key, transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` });
    const heat = n.timing && slowest ? n.timing.mean_seconds / slowest : 0;
    group.append(element("rect", { width: n.width, height: n.height, rx: n.kind === "component" ? 6 : 15, style: n.kind === "component" ? `--heat:${heat.toFixed(2)}` : "" }));
    n.lines.filter(Boolean).forEach((line, i) => group.append(element("text", {
      x: n.width / 2, y: n.kind === "component" ? 18 + i * 16 : 19, "text-anchor": "middle", class: i === 0 ? "node-name" : "node-detail",
    }, line)));
    const described = n.timing ? `${n.lines[0]} (${n.lines[1]}): ${n.timing.runs} runs, mean ${formatSeconds(n.timing.mean_seconds)}, p95 ${formatSeconds(n.timing.p95_seconds)}, ${n.timing.failures} failures`
      : `${n.kind} ${n.lines.join(" ")}`;
    group.append(element("title", {}, described));
    svg.append(group);
  }
  return svg;
}

function element(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
