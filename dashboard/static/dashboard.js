// mlenv dashboard: draws index.html from window.MLENV_DATA (data.js). Every value from the
// results database is put into the page as text (textContent), never as HTML.
"use strict";
(function () {
  const D = window.MLENV_DATA || { runs: [], axes: [], groups: [], sweeps: [] };
  const runs = D.runs;
  const byId = Object.fromEntries(runs.map((r) => [r.id, r]));
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const num = (v, digits) => (v === null || v === undefined ? "" :
    Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : Number(v).toPrecision(digits || 4));
  const ms = (v) => (v === null || v === undefined ? "" : (v / 1e6).toFixed(3));
  const params = (r) => Object.entries(r.parameters).map(([k, v]) => k + "=" + v).join(" ");

  // -- the table --------------------------------------------------------------------------
  const COLUMNS = [
    ["id", "run"], ["origin", "origin"], ["sweep", "sweep"], ["benchmark", "benchmark"],
    ["scenario", "scenario"], ["mode", "mode"], ["valid", "valid"], ["system", "system"],
    ["accelerator", "accelerator"], ["framework", "framework"],
    ["samples_per_second", "samples/s", num], ["p90", "p90 ms", ms], ["accuracy", "accuracy"],
    ["parameters", "parameters", (v, r) => params(r)], ["status", "status"],
  ];
  const FILTERS = ["benchmark", "scenario", "system", "accelerator", "framework", "origin", "sweep"];
  const state = { sort: null, desc: false };

  function cellText(col, r) {
    const [key, , fmt] = col;
    return fmt ? fmt(r[key], r) : r[key] === null || r[key] === undefined ? "" : String(r[key]);
  }

  function setupTable() {
    const tr = el("tr");
    COLUMNS.forEach((col) => {
      const th = el("th", col[1]);
      th.dataset.key = col[0];
      th.addEventListener("click", () => {
        state.desc = state.sort === col[0] ? !state.desc : false;
        state.sort = col[0];
        drawTable();
      });
      tr.appendChild(th);
    });
    $("runs").tHead.appendChild(tr);
    FILTERS.forEach((key) => {
      const select = $("filter-" + key);
      select.appendChild(new Option("all", ""));
      [...new Set(runs.map((r) => r[key]))].sort().forEach((v) => select.appendChild(new Option(v || "(none)", v)));
      select.addEventListener("change", drawTable);
    });
    $("filter-text").addEventListener("input", drawTable);
  }

  function shown() {
    const text = $("filter-text").value.trim().toLowerCase();
    return runs.filter((r) => FILTERS.every((key) => {
      const wanted = $("filter-" + key).value;
      return !wanted || r[key] === wanted;
    }) && (!text || COLUMNS.map((c) => cellText(c, r)).join(" ").toLowerCase().includes(text)));
  }

  function compareValues(a, b) {
    const missingA = a === null || a === undefined || a === "", missingB = b === null || b === undefined || b === "";
    if (missingA || missingB) return missingA - missingB;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b));
  }

  function drawTable() {
    let rows = shown();
    if (state.sort) {
      const key = state.sort;
      const pick = key === "parameters" ? params : (r) => r[key];
      rows = rows.slice().sort((a, b) => {
        const c = compareValues(pick(a), pick(b));
        return state.desc && pick(a) !== null && pick(b) !== null ? -c : c;
      });
    }
    const body = $("runs").tBodies[0];
    body.replaceChildren(...rows.map((r) => {
      const tr = el("tr");
      tr.dataset.run = r.id;
      COLUMNS.forEach((col) => {
        const td = el("td");
        if (col[0] === "id") {
          const a = el("a", r.id);
          a.href = r.page;
          td.appendChild(a);
        } else {
          td.textContent = cellText(col, r);
          if (col[2] === num || col[2] === ms) td.className = "number";
        }
        tr.appendChild(td);
      });
      return tr;
    }));
    [...$("runs").tHead.rows[0].cells].forEach((th) => {
      th.className = th.dataset.key === state.sort ? (state.desc ? "sorted desc" : "sorted asc") : "";
    });
    $("count").textContent = rows.length + " of " + runs.length + " runs";
  }

  // -- the Pareto plot --------------------------------------------------------------------
  const axisLabel = (key) => {
    const axis = D.axes.find((a) => a.key === key);
    return axis ? axis.label + " (" + axis.direction + ")" : key;
  };

  function setupPareto() {
    D.groups.forEach((g, i) => $("pareto-group").appendChild(new Option(g.name, String(i))));
    D.axes.forEach((a) => {
      $("pareto-x").appendChild(new Option(a.label + " (" + a.direction + ")", a.key));
      $("pareto-y").appendChild(new Option(a.label + " (" + a.direction + ")", a.key));
    });
    const keys = D.axes.map((a) => a.key);
    if (keys.includes("latency_ns.p90")) $("pareto-y").value = "latency_ns.p90";
    else if (keys.length > 1) $("pareto-y").value = keys[1];
    ["pareto-group", "pareto-x", "pareto-y"].forEach((id) => $(id).addEventListener("change", drawPareto));
  }

  function frontOf(group, kx, ky) {
    return group.fronts[kx + "|" + ky] || group.fronts[ky + "|" + kx] || [];
  }

  function drawPareto() {
    const group = D.groups[Number($("pareto-group").value)];
    const target = $("pareto");
    if (!group || !window.Plotly) {
      $("pareto-note").textContent = "no successful performance runs to plot";
      return;
    }
    const kx = $("pareto-x").value, ky = $("pareto-y").value;
    const front = new Set(frontOf(group, kx, ky));
    const points = Object.entries(group.values)
      .filter(([, v]) => v[kx] !== null && v[kx] !== undefined && v[ky] !== null && v[ky] !== undefined)
      .map(([id, v]) => ({ id, x: v[kx], y: v[ky], on: front.has(id) }));
    const trace = (list, name, style) => Object.assign({
      x: list.map((p) => p.x), y: list.map((p) => p.y), name, type: "scatter",
      customdata: list.map((p) => p.id),
      text: list.map((p) => p.id + (byId[p.id] ? " " + params(byId[p.id]) : "")),
      hovertemplate: "%{text}<br>x %{x}<br>y %{y}<extra></extra>",
    }, style);
    const onFront = points.filter((p) => p.on).sort((a, b) => a.x - b.x || a.y - b.y);
    const data = [
      trace(points.filter((p) => !p.on), "dominated", { mode: "markers", marker: { color: "#8c8c8c", size: 8 } }),
      trace(onFront, "front", { mode: "lines+markers", marker: { color: "#d62728", size: 11 }, line: { color: "#d62728" } }),
    ];
    const layout = {
      xaxis: { title: { text: axisLabel(kx) } }, yaxis: { title: { text: axisLabel(ky) } },
      margin: { t: 20 }, height: 460, hovermode: "closest",
    };
    $("pareto-note").textContent = onFront.length + " on the front of " + points.length + " runs";
    window.Plotly.react(target, data, layout, { displaylogo: false, responsive: true });
    if (!target.dataset.clicks) {
      target.dataset.clicks = "1";
      target.on("plotly_click", (event) => {
        const id = event.points[0] && event.points[0].customdata;
        if (id && byId[id]) window.location.href = byId[id].page;
      });
    }
  }

  // -- parallel coordinates over a sweep --------------------------------------------------
  function setupParcoords() {
    D.sweeps.forEach((s, i) => $("parcoords-sweep").appendChild(new Option(s.name, String(i))));
    $("parcoords-sweep").addEventListener("change", drawParcoords);
  }

  function dimension(label, values) {
    if (values.every((v) => typeof v === "number")) return { label, values };
    const names = [...new Set(values.map(String))].sort();
    return { label, values: values.map((v) => names.indexOf(String(v))), tickvals: names.map((_, i) => i), ticktext: names };
  }

  function drawParcoords() {
    const sweep = D.sweeps[Number($("parcoords-sweep").value)];
    if (!sweep || !window.Plotly) return;
    const mine = runs.filter((r) => r.sweep === sweep.name && r.status === "ok" && r.mode === "performance");
    if (!mine.length) return;
    const dims = sweep.axes.map((key) => dimension(key, mine.map((r) => r.parameters[key] ?? "")));
    dims.push({ label: "samples/s", values: mine.map((r) => r.samples_per_second ?? 0) });
    dims.push({ label: "p90 ms", values: mine.map((r) => (r.p90 ?? 0) / 1e6) });
    const line = { color: mine.map((r) => r.samples_per_second ?? 0), colorscale: "Viridis", showscale: true };
    window.Plotly.react($("parcoords"), [{ type: "parcoords", dimensions: dims, line }],
      { height: 420, margin: { l: 80, r: 80 } }, { displaylogo: false, responsive: true });
  }

  // -- two runs side by side --------------------------------------------------------------
  function setupCompare() {
    ["compare-a", "compare-b"].forEach((id, i) => {
      runs.forEach((r) => $(id).appendChild(new Option([r.id, r.benchmark, r.scenario, r.mode].join(" · "), r.id)));
      if (runs.length > i) $(id).selectedIndex = i;
      $(id).addEventListener("change", drawCompare);
    });
  }

  function flat(prefix, value, out) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      Object.entries(value).forEach(([k, v]) => flat(prefix + k + ".", v, out));
    } else out[prefix.slice(0, -1)] = value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : value;
    return out;
  }

  function drawCompare() {
    const a = byId[$("compare-a").value], b = byId[$("compare-b").value];
    const table = $("compare");
    if (!a || !b) return table.replaceChildren();
    const fa = flat("", a, {}), fb = flat("", b, {});
    delete fa.page; delete fb.page;
    const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].sort();
    const head = el("tr");
    [ "field", "run A: " + a.id, "run B: " + b.id ].forEach((t) => head.appendChild(el("th", t)));
    const rows = keys.map((k) => {
      const tr = el("tr", null, String(fa[k]) === String(fb[k]) ? "same" : "differs");
      [k, fa[k] ?? "", fb[k] ?? ""].forEach((t) => tr.appendChild(el("td", t)));
      return tr;
    });
    table.replaceChildren(head, ...rows);
  }

  $("source").textContent = "from " + D.source + " · " + runs.length + " runs";
  setupTable();
  drawTable();
  setupPareto();
  drawPareto();
  setupParcoords();
  drawParcoords();
  setupCompare();
  drawCompare();
})();
