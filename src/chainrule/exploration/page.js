"use strict";
// The explore page: every string from the data goes into the DOM through textContent or an
// attribute, never through innerHTML, so a user's tensor names show as text.
(function () {
  const DATA = JSON.parse(document.getElementById("chainrule-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const NODE_W = 110, NODE_H = 46, COL_W = 170, ROW_H = 80;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(value) {
    if (value === 0) return "0";
    const magnitude = Math.abs(value);
    return (magnitude >= 1e-3 && magnitude < 1e4) ? value.toPrecision(6) : value.toExponential(4);
  }
  function shapeText(shape) {
    return "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")");
  }
  function maxAbs(matrices) {
    let largest = 0;
    for (const m of matrices) if (m) for (const v of m.data) largest = Math.max(largest, Math.abs(v));
    return largest || 1;
  }
  // Diverging scale: blue (negative), white (exactly 0), red (positive), up to ±scale. A
  // nonzero entry is at least MIN_TINT coloured, so one far below the scale (a gradient of
  // 1e-6 beside one of 1) never reads as white, that is as "no gradient".
  const MIN_TINT = 0.15;
  function colour(value, scale) {
    if (value === 0) return "rgb(255,255,255)";
    const t = Math.min(1, Math.abs(value) / scale);
    const fade = Math.round(255 * (1 - MIN_TINT - (1 - MIN_TINT) * t));
    return value > 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
  }
  function grey(value, scale) {
    const level = Math.round(255 * (1 - Math.max(0, Math.min(1, value / scale))));
    return `rgb(${level},${level},${level})`;
  }
  // A heatmap of matrix `m` on its own colour scale, ±its largest |entry| (stated under it),
  // unless options.scale gives one shared on purpose (also stated), so a small tensor is never
  // drawn on a large one's scale.
  function heatmap(m, label, options) {
    const opts = options || {};
    const scale = opts.scale !== undefined ? opts.scale : maxAbs([m]);
    const figure = el("figure", { class: "panel", "data-scale": String(scale) });
    const size = opts.cell || Math.max(3, Math.min(18, Math.floor(320 / Math.max(m.cols, m.rows))));
    const canvas = el("canvas", { width: m.cols * size, height: m.rows * size, "data-rows": m.rows, "data-cols": m.cols, role: "img",
      "aria-label": `${label}: shape ${shapeText(m.shape)}, values from ${fmt(Math.min(...m.data))} to ${fmt(Math.max(...m.data))}` });
    const ctx = canvas.getContext("2d");
    m.data.forEach((v, i) => {
      ctx.fillStyle = opts.grey ? grey(v, scale) : colour(v, scale);
      ctx.fillRect((i % m.cols) * size, Math.floor(i / m.cols) * size, size, size);
    });
    for (const [row, col] of opts.highlight || []) {
      if (row >= m.rows || col >= m.cols) continue;
      ctx.strokeStyle = "#0b57d0"; ctx.lineWidth = Math.max(2, size / 5);
      ctx.strokeRect(col * size + 1, row * size + 1, size - 2, size - 2);
    }
    figure.append(canvas);
    if (!opts.bare) {
      const caption = el("figcaption", { class: "caption" },
        `${label} ${shapeText(m.shape)}` + (m.sampled ? ` (first ${m.rows}×${m.cols} shown)` : ""));
      figure.append(caption);
      if (!opts.grey) figure.append(scaleBar(scale, opts.shared ? `colours (shared with ${opts.shared})` : "colours"));
    }
    return figure;
  }
  function scaleBar(scale, label) {
    const bar = el("div", { class: "scale", role: "img", "aria-label": `${label}: from ${fmt(-scale)} (blue) through exactly 0 (white) to ${fmt(scale)} (red)` });
    const canvas = el("canvas", { width: 161, height: 12 });
    const ctx = canvas.getContext("2d");
    // 161 columns, so the middle one is exactly 0 (white) and every other one is tinted.
    for (let x = 0; x <= 160; x++) { ctx.fillStyle = colour((x / 80 - 1) * scale, scale); ctx.fillRect(x, 0, 1, 12); }
    bar.append(el("span", {}, label + ": " + fmt(-scale)), canvas, el("span", {}, fmt(scale)));
    return bar;
  }
  function sampledNote(matrices) {
    return matrices.some(m => m && m.sampled)
      ? `Big tensors are sampled: only the first ${DATA.max_rows} rows and ${DATA.max_cols} columns are embedded.` : "";
  }

  // ---------------------------------------------------------------- the graph
  const graph = document.getElementById("graph");
  const nodeByName = new Map(DATA.nodes.map(n => [n.name, n]));
  const nodeEls = new Map();
  const edgeEls = [];
  const centre = n => [n.column * COL_W + NODE_W / 2 + 10, n.row * ROW_H + NODE_H / 2 + 10];
  const edgeLayer = svg("g");
  const nodeLayer = svg("g");
  graph.append(edgeLayer, nodeLayer);
  for (const edge of DATA.edges) {
    const [x1, y1] = centre(nodeByName.get(edge.from));
    const [x2, y2] = centre(nodeByName.get(edge.to));
    const group = svg("g", { class: "edge" });
    group.append(svg("line", { x1: x1 + NODE_W / 2, y1, x2: x2 - NODE_W / 2, y2 }));
    group.append(svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, shapeText(edge.shape)));
    edgeLayer.append(group);
    edgeEls.push([edge, group]);
  }
  for (const node of DATA.nodes) {
    const [cx, cy] = centre(node);
    const group = svg("g", { class: `node ${node.kind}`, tabindex: "0", role: "button",
      "aria-label": `${node.name}, ${node.kind}, shape ${shapeText(node.shape)}`, "data-name": node.name });
    group.append(svg("rect", { x: cx - NODE_W / 2, y: cy - NODE_H / 2, width: NODE_W, height: NODE_H }));
    group.append(svg("text", { x: cx, y: cy - 3, "text-anchor": "middle" }, node.name.length > 14 ? node.name.slice(0, 13) + "…" : node.name));
    group.append(svg("text", { x: cx, y: cy + 14, "text-anchor": "middle", class: "shape" }, shapeText(node.shape)));
    const title = svg("title", {}, node.name + (node.formula ? " = " + node.formula : ""));
    group.append(title);
    group.addEventListener("click", () => showNode(node.name));
    group.addEventListener("keydown", event => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); showNode(node.name); }
    });
    nodeLayer.append(group);
    nodeEls.set(node.name, group);
  }
  const width = (Math.max(...DATA.nodes.map(n => n.column)) + 1) * COL_W;
  const height = (Math.max(...DATA.nodes.map(n => n.row)) + 1) * ROW_H;
  const home = { x: 0, y: 0, w: width, h: Math.max(height, 120) };
  let view = Object.assign({}, home);
  function applyView() { graph.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`); }
  function zoom(factor) {
    const cx = view.x + view.w / 2, cy = view.y + view.h / 2;
    view.w *= factor; view.h *= factor; view.x = cx - view.w / 2; view.y = cy - view.h / 2; applyView();
  }
  applyView();
  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.8));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(1.25));
  document.getElementById("zoom-reset").addEventListener("click", () => { view = Object.assign({}, home); applyView(); });
  graph.addEventListener("wheel", event => { event.preventDefault(); zoom(event.deltaY < 0 ? 0.9 : 1.1); }, { passive: false });
  let drag = null;
  graph.addEventListener("pointerdown", event => { drag = [event.clientX, event.clientY, view.x, view.y]; });
  window.addEventListener("pointerup", () => { drag = null; });
  graph.addEventListener("pointermove", event => {
    if (!drag) return;
    const ratio = view.w / graph.clientWidth;
    view.x = drag[2] - (event.clientX - drag[0]) * ratio; view.y = drag[3] - (event.clientY - drag[1]) * ratio; applyView();
  });

  function showNode(name) {
    const node = nodeByName.get(name);
    for (const [other, group] of nodeEls) group.classList.toggle("selected", other === name);
    const detail = document.getElementById("node-detail");
    detail.replaceChildren();
    detail.append(el("h3", {}, `${node.name} ${shapeText(node.shape)}`));
    if (node.formula) detail.append(el("p", {}, ""), el("span", { class: "formula" }, `${node.name} = ${node.formula}`));
    if (node.value.data.length <= 8) {
      detail.append(el("p", { class: "value-line" }, `value = ${node.value.data.map(fmt).join(", ")}`));
      if (node.grad) detail.append(el("p", { class: "grad-line" }, `dloss/d${node.name} = ${node.grad.data.map(fmt).join(", ")}`));
    }
    const panels = el("div", { class: "panels" });
    panels.append(heatmap(node.value, `${node.name}`));
    if (node.grad) panels.append(heatmap(node.grad, `dloss/d${node.name}`));
    else panels.append(el("p", { class: "caption" }, `${node.name} does not require grad: no gradient.`));
    detail.append(panels);
    const note = sampledNote([node.value, node.grad]);
    if (note) detail.append(el("p", { class: "caption" }, note));
  }

  // ---------------------------------------------------------------- the stepper
  let current = 0;
  const steps = DATA.steps;
  function entryTable(step) {
    const check = step.check;
    const table = el("table", { class: "check" });
    const head = el("tr");
    for (const label of ["entry", "upstream pushed back (analytic)", "finite difference", "abs error"]) head.append(el("th", { scope: "col" }, label));
    table.append(head);
    check.entries.forEach((entry, i) => {
      const row = el("tr");
      row.append(el("td", {}, `[${entry.join(", ")}]`),
        el("td", { class: "analytic" }, fmt(check.analytic[i])),
        el("td", { class: "numeric" }, fmt(check.numeric[i])),
        el("td", {}, fmt(Math.abs(check.analytic[i] - check.numeric[i]))));
      table.append(row);
    });
    return table;
  }
  function showStep(index) {
    current = Math.max(0, Math.min(steps.length - 1, index));
    const step = steps[current];
    document.getElementById("step-counter").textContent = `Step ${current + 1} of ${steps.length} (${step.phase})`;
    document.getElementById("prev").disabled = current === 0;
    document.getElementById("next").disabled = current === steps.length - 1;
    for (const [name, group] of nodeEls) group.classList.toggle("current", name === step.node || (step.phase === "backward" && name === step.from));
    for (const [edge, group] of edgeEls) group.classList.toggle("current", step.phase === "backward" && edge.from === step.node && edge.to === step.from);
    const box = document.getElementById("step");
    box.replaceChildren();
    box.append(el("h3", { class: "step-title" }, step.phase === "forward" ? `Forward: ${step.title}` : `Backward: ${step.title}`));
    if (step.phase === "forward") {
      box.append(el("p", {}, "Formula: "), el("span", { class: "formula" }, `${step.node} = ${step.formula}`));
      box.append(el("p", { class: "shape-line" }, `Shape ${shapeText(step.shape)}`));
      box.append(heatmap(step.value, step.node));
      const note = sampledNote([step.value]);
      if (note) box.append(el("p", { class: "caption" }, note));
      return;
    }
    box.append(el("p", {}, "Local derivative: "), el("span", { class: "formula derivative" }, `${step.derivative} = ${step.rule}`));
    box.append(el("p", { class: "shape-line" },
      `Upstream ${step.upstream_name} has shape ${shapeText(step.grad_out_shape)}; pushed back through this link it gives ${step.grad_in_name}, shape ${shapeText(step.grad_in_shape)}.`));
    const panels = el("div", { class: "panels" });
    panels.append(heatmap(step.upstream, step.upstream_name));
    panels.append(heatmap(step.grad_in, step.grad_in_name, { highlight: step.check.cells }));
    box.append(panels);
    if (step.plugged_in.length) {
      box.append(el("p", {}, "The chain rule with the numbers plugged in, entry by entry:"));
      const list = el("ul", { class: "plugged" });
      for (const item of step.plugged_in) {
        list.append(el("li", { class: "formula" }, `[${item.entry.join(", ")}]: ${fmt(item.upstream)} × ${fmt(item.local)} = ${fmt(item.product)}`));
      }
      box.append(list);
    }
    box.append(el("p", {}, "What this link sends back at the highlighted entries, against central finite differences:"));
    box.append(entryTable(step));
    box.append(el("p", { class: step.check.passed ? "pass verdict" : "fail verdict" }, `Finite-difference check: ${step.check.summary}`));
    const note = sampledNote([step.upstream, step.grad_in]);
    if (note) box.append(el("p", { class: "caption" }, note));
  }
  document.getElementById("prev").addEventListener("click", () => showStep(current - 1));
  document.getElementById("next").addEventListener("click", () => showStep(current + 1));
  document.addEventListener("keydown", event => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
    if (event.key === "ArrowRight") { event.preventDefault(); showStep(current + 1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); showStep(current - 1); }
    else if (event.key === "Home") { event.preventDefault(); showStep(0); }
    else if (event.key === "End") { event.preventDefault(); showStep(steps.length - 1); }
  });

  // ---------------------------------------------------------------- the tutorial's extras
  function section(id, heading) {
    const box = el("section", { id, "aria-labelledby": id + "-heading" });
    box.append(el("h2", { id: id + "-heading" }, heading));
    document.getElementById("tutorial").append(box);
    return box;
  }
  function tutorial(t) {
    const images = section("images", "The digits, w1 and the ReLU mask");
    images.append(el("h3", {}, "The batch: each row of x as an 8×8 image"));
    const digits = el("div", { class: "tiles" });
    t.digits.forEach((m, i) => {
      const fig = heatmap(m, `digit ${i} (label ${t.labels[i]})`, { scale: 1, grey: true, cell: 6, bare: true });
      fig.append(el("figcaption", {}, `label ${t.labels[i]}`));
      digits.append(fig);
    });
    images.append(digits);
    images.append(el("h3", {}, "w1's columns as 8×8 tiles (one per hidden unit)"));
    const tileScale = maxAbs(t.w1_tiles);
    images.append(scaleBar(tileScale, "w1"));
    const tiles = el("div", { class: "tiles" });
    t.w1_tiles.forEach((m, j) => {
      const fig = heatmap(m, `w1 column ${j}`, { scale: tileScale, cell: 6, bare: true });
      fig.append(el("figcaption", {}, `unit ${j}`));
      tiles.append(fig);
    });
    images.append(tiles);
    images.append(el("h3", {}, "ReLU mask [u1 > 0]"));
    images.append(heatmap(t.relu_mask, "[u1 > 0] (white: off, black: on)", { scale: 1, grey: true }));
    images.append(el("p", { id: "dead-units" }, `Dead units (off for every example in the batch): ${t.dead_units} of ${t.n_hidden}`));

    const sides = section("sides", "Hand-derived, autograd and closed-form gradients");
    for (const side of t.sides) {
      sides.append(el("h3", {}, `dloss/d${side.name}`));
      const panels = el("div", { class: "panels" });
      panels.append(heatmap(side.manual, "manual.backward"),
        heatmap(side.autograd, "autograd (.backward())"),
        heatmap(side.closed_form, "closed form"));
      sides.append(panels, el("p", { class: "max-diff" }, `Largest difference between them: ${fmt(side.max_diff)}`));
    }

    const broken = section("break-it", "Break it");
    broken.append(el("p", { class: "hint" }, "Choose a classic mistake in the hand-derived backward pass: the broken gradient is shown next to the true one, and diagnose() names the mistake from the numbers alone."));
    const label = el("label", { for: "mistake" }, "Mistake: ");
    const select = el("select", { id: "mistake" });
    for (const choice of t.break_it) select.append(el("option", { value: choice.key }, choice.label));
    const result = el("div", { id: "break-result", "aria-live": "polite" });
    broken.append(label, select, result);
    function showBroken() {
      const choice = t.break_it.find(c => c.key === select.value);
      // One scale for both on purpose: a mistake that only scales the gradient (a sum for
      // the mean, a missing 2) shows as a difference in colour.
      const scale = maxAbs([choice.broken, choice.true]);
      result.replaceChildren();
      const panels = el("div", { class: "panels" });
      panels.append(heatmap(choice.broken, `broken dloss/d${choice.parameter}`, { scale, shared: "the true one" }),
        heatmap(choice.true, `true dloss/d${choice.parameter}`, { scale, shared: "the broken one" }));
      result.append(panels, el("p", {}, "diagnose(broken, true): "), el("p", { class: "diagnosis", "data-kind": choice.kind }, choice.diagnosis));
    }
    select.addEventListener("change", showBroken);
    showBroken();

    const train = section("train", "Train");
    const frames = t.train;
    train.append(el("p", { class: "hint" }, `Gradient descent on this batch, recorded in Python at export time: ${frames.length - 1} steps. Drag the slider (or use the arrow keys on it).`));
    const slider = el("input", { type: "range", id: "train-step", min: "0", max: String(frames.length - 1), value: "0", "aria-label": "Training step" });
    const readout = el("p", { id: "train-readout", "aria-live": "polite" });
    const curve = svg("svg", { width: "420", height: "140", viewBox: "0 0 420 140", role: "img", "aria-label": "Loss curve" });
    const losses = frames.map(f => f.loss);
    const top = Math.max(...losses) || 1;
    const px = i => 30 + 380 * i / Math.max(1, frames.length - 1);
    const py = v => 120 - 100 * v / top;
    curve.append(svg("polyline", { points: losses.map((v, i) => `${px(i)},${py(v)}`).join(" "), fill: "none", stroke: "#0b57d0", "stroke-width": "2" }));
    curve.append(svg("text", { x: 2, y: 24, "font-size": "10" }, fmt(top)), svg("text", { x: 2, y: 124, "font-size": "10" }, "0"), svg("text", { x: 200, y: 138, "font-size": "10" }, "step"));
    const marker = svg("circle", { r: "5", fill: "#b3261e" });
    curve.append(marker);
    const framePanels = el("div", { class: "panels" });
    train.append(slider, readout, curve, framePanels);
    function showFrame() {
      const frame = frames[Number(slider.value)];
      readout.textContent = `Step ${frame.step}: loss ${fmt(frame.loss)}`;
      marker.setAttribute("cx", px(frame.step)); marker.setAttribute("cy", py(frame.loss));
      framePanels.replaceChildren();
      for (const name of ["w1", "w2"]) {
        framePanels.append(heatmap(frame.weights[name], name), heatmap(frame.grads[name], `dloss/d${name}`));
      }
    }
    slider.addEventListener("input", showFrame);
    showFrame();
  }

  const notes = [`${DATA.nodes.length} tensors, ${steps.length} steps: ${steps.filter(s => s.phase === "forward").length} forward, ${steps.filter(s => s.phase === "backward").length} backward links.`];
  notes.push("Each heatmap has its own colour scale, ±its largest |entry|, given under it: blue is negative, red positive, white exactly 0 (any nonzero entry is tinted).");
  if (DATA.nodes.some(n => n.value.sampled || (n.grad && n.grad.sampled))) notes.push(`Tensors larger than ${DATA.max_rows}×${DATA.max_cols} are sampled: the first rows and columns are embedded.`);
  document.getElementById("note").textContent = notes.join(" ");
  if (DATA.tutorial) tutorial(DATA.tutorial);
  showNode(DATA.output);
  showStep(0);
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-ready", "true");
})();
