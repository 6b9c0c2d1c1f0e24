/* harmmap planner map: Leaflet + h3-js, both served by the app (no other host is contacted).
 *
 * The server sends, for the visible box and zoom, hex H3 ids with parallel value arrays
 * (/api/map/cells); hexagons are drawn here from their ids, one canvas path per colour.
 * Clicking the map finds the cell under the pointer with h3.latLngToCell.
 * Every text from the data goes into the page through textContent, never as HTML.
 */
(function () {
  "use strict";
  const meta = JSON.parse(document.getElementById("map-meta").textContent);
  const urls = meta.urls;
  const mapEl = document.getElementById("map");
  const $ = (id) => document.getElementById(id);
  const GI = new Map(meta.legends.gi.map((e) => [e.bin, e]));
  const EMERGING = new Map(meta.legends.emerging.map((e) => [e.code, e]));
  const HARM = meta.legends.harm;
  const state = {
    layer: meta.initial.layer || "harm", period: meta.initial.period || "", crime: meta.initial.crime_type || "",
    area: meta.initial.area ? String(meta.initial.area) : "", data: null, ids: new Map(), first: true,
  };

  const map = L.map(mapEl, { preferCanvas: true, minZoom: 4, maxZoom: 18, zoomSnap: 1 });
  map.attributionControl.setPrefix("Leaflet");
  if (meta.tiles_url) {
    L.tileLayer(meta.tiles_url, { attribution: meta.tiles_attribution, maxZoom: 19 }).addTo(map);
  } else {
    mapEl.classList.add("no-tiles");
  }
  map.createPane("places").style.zIndex = 430;
  map.createPane("selection").style.zIndex = 440;
  const renderer = L.canvas({ padding: 0.2 });
  // boundaries in SVG, so only their stroke (not their inside) takes clicks; both above the hexagons
  const outlines = L.svg({ pane: "places" });
  const selected = L.svg({ pane: "selection" });
  const hexLayer = L.layerGroup().addTo(map);
  const selLayer = L.layerGroup().addTo(map);
  const placeLayer = L.layerGroup().addTo(map);
  const storeLayer = L.layerGroup();
  L.control.layers(null, { "Hexagons": hexLayer, "Town-centre boundaries": placeLayer, "Stores": storeLayer },
    { collapsed: false, position: "topright" }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  const { el, fmt } = window.harmmapDom;  // dom.js; fmt shows 1 decimal unless told otherwise
  function query(extra) {
    const q = new URLSearchParams(extra || {});
    if (state.period) q.set("period", state.period);
    if (state.crime) q.set("crime_type", state.crime);
    if (state.area) q.set("area", state.area);
    return q.toString();
  }
  function getJSON(url, signal) {
    return fetch(url, { credentials: "same-origin", signal: signal, headers: { Accept: "application/json" } })
      .then((r) => r.json().then((body) => {
        if (!r.ok) throw new Error(body.message || body.error || ("HTTP " + r.status));
        return body;
      }));
  }
  function status(text) { $("map-status").textContent = text; }

  // ------------------------------------------------------------------ colours and legend
  function harmColour(value, breaks) {
    let k = 0;
    while (k < breaks.length && value > breaks[k]) k += 1;
    const span = Math.max(breaks.length, 1);
    return HARM[Math.round(k * (HARM.length - 1) / span)];
  }
  function colourOf(d, i) {
    if (d.layer === "gi") return (GI.get(d.gi_bin[i]) || GI.get(0)).colour;
    if (d.layer === "emerging") return (EMERGING.get(d.emerging[i]) || EMERGING.get(0)).colour;
    return harmColour(d.harm[i], d.breaks);
  }
  function swatch(colour, label) {
    const row = el("div", null, "legend-row");
    const box = el("span", null, "swatch");
    box.style.backgroundColor = colour;
    row.append(box, el("span", label));
    return row;
  }
  function drawLegend() {
    const box = $("legend");
    box.replaceChildren();
    const d = state.data;
    if (state.layer === "gi") {
      meta.legends.gi.forEach((e) => box.append(swatch(e.colour, e.label)));
      box.append(el("p", "Getis-Ord Gi* on all crime types; coarse hexagons show the strongest class inside.", "hint"));
    } else if (state.layer === "emerging") {
      meta.legends.emerging.forEach((e) => box.append(swatch(e.colour, e.label)));
      box.append(el("p", "Emerging hot-spot classes of the latest trends run; coarse hexagons show the most " +
        "urgent class inside.", "hint"));
    } else if (d) {
      const b = d.breaks;
      const edges = [0].concat(b);
      edges.forEach((low, k) => {
        const label = k < b.length ? fmt(low) + " – " + fmt(b[k]) : "over " + fmt(low);
        box.append(swatch(harmColour(k < b.length ? b[k] : low + 1, b), label));
      });
      box.append(el("p", "Harm per hexagon; classes are quantiles over all hexagons of this resolution under the " +
        "current filters (not only those in view), so colours stay put while panning.", "hint"));
    }
  }

  // ------------------------------------------------------------------ hexagons
  let controller = null;
  let timer = null;
  function refresh(delay) {
    clearTimeout(timer);
    timer = setTimeout(load, delay === undefined ? 150 : delay);
  }
  function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(5)).join(",");
    status("Loading…");
    getJSON(urls.cells + "?" + query({ bbox: bbox, zoom: map.getZoom(), layer: state.layer }), controller.signal)
      .then(draw)
      .catch((err) => { if (err.name !== "AbortError") status("Could not load the map: " + err.message); });
  }
  function draw(d) {
    state.data = d;
    state.ids = new Map();
    const groups = new Map();
    for (let i = 0; i < d.cells.length; i += 1) {
      state.ids.set(d.cells[i], i);
      const colour = colourOf(d, i);
      if (!groups.has(colour)) groups.set(colour, []);
      groups.get(colour).push([h3.cellToBoundary(d.cells[i])]);
    }
    hexLayer.clearLayers();
    groups.forEach((polys, colour) => {
      L.polygon(polys, { renderer: renderer, interactive: false, color: "#ffffff", weight: 0.4, opacity: 0.7,
        fillColor: colour, fillOpacity: 0.78 }).addTo(hexLayer);
    });
    drawLegend();
    drawRanking(d.top);
    let text = fmt(d.count, 0) + " hexagons at H3 resolution " + d.resolution;
    if (d.resolution < d.native_resolution) text += " (sums of resolution-" + d.native_resolution + " cells)";
    if (d.coarsened) text += "; coarsened to stay under the size limit";
    if (d.truncated) text += "; only the highest-harm hexagons are shown: zoom in for all";
    status(text + ".");
    mapEl.dataset.cells = String(d.count);
    mapEl.dataset.resolution = String(d.resolution);
    if (state.first) {
      state.first = false;
      mapEl.dataset.ready = "1";
      if (window.performance && performance.mark) performance.mark("harmmap-first-paint");
    }
  }

  // ------------------------------------------------------------------ ranking
  function drawRanking(top) {
    const body = $("ranking").tBodies[0];
    body.replaceChildren();
    top.forEach((t, k) => {
      const row = el("tr", null, "clickable");
      const link = el("button", t.places || t.cell, "linklike");
      link.type = "button";
      link.title = t.cell;
      link.addEventListener("click", () => {
        map.setView(h3.cellToLatLng(t.cell), Math.max(map.getZoom(), 13));
        showCell(t.cell);
      });
      const name = el("td");
      name.append(link);
      row.append(el("td", k + 1), name, el("td", fmt(t.harm), "num"), el("td", fmt(t.incidents, 0), "num"));
      body.append(row);
    });
    if (!top.length) {
      const row = el("tr");
      const cell = el("td", "No cells in view.");
      cell.colSpan = 4;
      row.append(cell);
      body.append(row);
    }
  }

  // ------------------------------------------------------------------ details
  function detailRows(rows) {
    const table = $("details-table");
    table.replaceChildren();
    rows.forEach(([label, value]) => {
      if (value === undefined) return;
      const tr = el("tr");
      tr.append(el("th", label), el("td", value === null ? "–" : value));
      table.append(tr);
    });
  }
  function chart(series) {
    const svg = $("details-svg");
    const ns = svg.namespaceURI;
    svg.replaceChildren();
    const n = series.harm.length;
    if (!n) return;
    const W = 300, H = 120, L0 = 36, B0 = 20, T0 = 8;
    const max = Math.max.apply(null, series.harm.concat([1]));
    const x = (i) => L0 + (n === 1 ? 0 : i * (W - L0 - 6) / (n - 1));
    const y = (v) => T0 + (H - T0 - B0) * (1 - v / max);
    const add = (tag, attrs, text, parent) => {
      const node = document.createElementNS(ns, tag);
      Object.keys(attrs).forEach((k) => node.setAttribute(k, attrs[k]));
      if (text !== undefined) node.textContent = text;
      (parent || svg).append(node);
      return node;
    };
    add("line", { x1: L0, y1: H - B0, x2: W - 4, y2: H - B0, class: "axis" });
    add("line", { x1: L0, y1: T0, x2: L0, y2: H - B0, class: "axis" });
    add("text", { x: L0 - 4, y: T0 + 8, class: "tick end" }, fmt(max, 0));
    add("text", { x: L0 - 4, y: H - B0, class: "tick end" }, "0");
    add("text", { x: L0, y: H - 4, class: "tick" }, series.periods[0]);
    add("text", { x: W - 4, y: H - 4, class: "tick end" }, series.periods[n - 1]);
    add("polyline", { points: series.harm.map((v, i) => x(i) + "," + y(v)).join(" "), class: "line" });
    series.harm.forEach((v, i) => {
      const bin = series.gi_bin ? series.gi_bin[i] : 0;
      const dot = add("circle", { cx: x(i), cy: y(v), r: 2.6, class: "dot" });
      if (bin) dot.style.fill = GI.get(bin).colour;
      add("title", {}, series.periods[i] + ": " + fmt(v), dot);
    });
    const source = series.source === "trends" ? "monthly, from the trends run (coloured dots: Gi* hot or cold " +
      "that month)" : "per period of the scoring run";
    $("details-note").textContent = "Harm " + source + ".";
  }
  function outline(cell) {
    selLayer.clearLayers();
    L.polygon(h3.cellToBoundary(cell), { renderer: selected, interactive: false, color: "#111", weight: 3,
      fill: false }).addTo(selLayer);
  }
  function showCell(cell) {
    outline(cell);
    $("details").hidden = false;
    $("details-title").textContent = "Cell " + cell;
    const path = (u) => u.replace("__CELL__", encodeURIComponent(cell));
    getJSON(path(urls.cell) + "?" + query()).then((c) => {
      const rows = [["Harm", fmt(c.harm)], ["Incidents", fmt(c.incidents, 0)]];
      if (c.filtered) {
        const what = [c.filtered.period, c.filtered.crime_type].filter(Boolean).join(", ") || "operation area";
        rows.push(["Harm (" + what + ")", fmt(c.filtered.harm)], ["Incidents (" + what + ")", fmt(c.filtered.incidents, 0)]);
      }
      rows.push(["Gi* class", c.gi_label], ["Gi* z", c.gi_z === null ? undefined : fmt(c.gi_z, 2)],
        ["Emerging class", c.emerging_label], ["Rank", c.rank === null ? undefined :
          fmt(c.rank, 0) + (c.rank_low !== null ? " (" + c.rank_low + "–" + c.rank_high + ")" : "")],
        ["Places", c.places || undefined], ["Forecast harm", c.forecast_harm === null ? undefined : fmt(c.forecast_harm)],
        ["H3 resolution", c.resolution + (c.native_cells > 1 ? " (" + c.native_cells + " cells)" : "")]);
      detailRows(rows);
    }).catch((err) => detailRows([["Error", err.message]]));
    getJSON(path(urls.series)).then(chart).catch(() => $("details-svg").replaceChildren());
  }
  function showPlace(placeId) {
    selLayer.clearLayers();
    $("details").hidden = false;
    getJSON(urls.place.replace("__PLACE__", encodeURIComponent(placeId))).then((p) => {
      $("details-title").textContent = p.name;
      detailRows([["Kind", p.kind.replace("_", " ")], ["Harm", fmt(p.harm)], ["Incidents", fmt(p.incidents, 0)],
        ["Rank", fmt(p.rank, 0)], ["Gi* class", p.gi_label], ["Gi* z", p.gi_z === null ? undefined : fmt(p.gi_z, 2)],
        ["Emerging class", p.emerging_label]]);
      chart(p.series);
    }).catch((err) => detailRows([["Error", err.message]]));
  }
  map.on("click", (e) => {
    const d = state.data;
    if (!d) return;
    const cell = h3.latLngToCell(e.latlng.lat, e.latlng.lng, d.resolution);
    if (state.ids.has(cell)) showCell(cell);
  });

  // ------------------------------------------------------------------ boundaries and stores
  // Both are fetched for the view padded by half its size, again when the map leaves that box
  // (or, for boundaries, changes zoom: they are simplified to the pixel size).
  function tooltip(text) { return el("span", text); }
  function boxOf(bounds) {
    const c = (v, lo, hi) => Math.min(hi, Math.max(lo, v)).toFixed(5);
    return [c(bounds.getWest(), -180, 180), c(bounds.getSouth(), -90, 90), c(bounds.getEast(), -180, 180),
      c(bounds.getNorth(), -90, 90)].join(",");
  }
  function follower(url, layer, withZoom, fill) {
    let box = null, zoom = null, ctl = null;
    return function () {
      if (!map.hasLayer(layer)) return;
      const view = map.getBounds();
      if (box && box.contains(view) && (!withZoom || zoom === map.getZoom())) return;
      const wanted = view.pad(0.5);
      const q = { bbox: boxOf(wanted) };
      if (withZoom) q.zoom = map.getZoom();
      if (ctl) ctl.abort();
      ctl = new AbortController();
      getJSON(url + "?" + new URLSearchParams(q).toString(), ctl.signal).then((data) => {
        box = wanted;
        zoom = map.getZoom();
        layer.clearLayers();
        fill(data);
      }).catch((err) => { if (err.name !== "AbortError") status("Could not load " + url + ": " + err.message); });
    };
  }
  const loadPlaces = follower(urls.boundaries, placeLayer, true, (geo) => {
    L.geoJSON(geo, {
      renderer: outlines,
      style: (f) => ({ color: f.properties.kind === "town_centre" ? "#1d2430" : "#5b6675", weight: 2.5, opacity: 0.9,
        fill: false, dashArray: f.properties.kind === "town_centre" ? null : "4 4" }),
      onEachFeature: (f, layer) => {
        layer.bindTooltip(tooltip(f.properties.name), { sticky: true });
        layer.on("click", (ev) => { L.DomEvent.stopPropagation(ev); showPlace(f.properties.place_id); });
      },
    }).addTo(placeLayer);
    mapEl.dataset.boundaries = String(geo.features.length);
  });
  const loadStores = follower(urls.stores, storeLayer, false, (s) => {
    for (let i = 0; i < s.count; i += 1) {
      L.circleMarker([s.lat[i], s.lng[i]], { renderer: renderer, radius: 4, color: "#1d2430", weight: 1,
        fillColor: "#ffffff", fillOpacity: 1 })
        .bindTooltip(tooltip((s.name[i] || s.store_id[i]) + " · " + s.org_id[i])).addTo(storeLayer);
    }
    mapEl.dataset.stores = String(s.count);
  });
  map.on("overlayadd", (e) => {
    if (e.layer === storeLayer) loadStores();
    if (e.layer === placeLayer) loadPlaces();
  });

  function fitArea() {
    const area = meta.areas.find((a) => String(a.area_id) === state.area);
    if (area && area.bounds) map.fitBounds(area.bounds, { maxZoom: 14 });
  }

  // ------------------------------------------------------------------ controls
  document.querySelectorAll('input[name="layer"]').forEach((input) => input.addEventListener("change", () => {
    state.layer = input.value;
    refresh(0);
  }));
  const bind = (id, key, after) => $(id).addEventListener("change", (e) => {
    state[key] = e.target.value;
    if (after) after();
    refresh(0);
  });
  bind("f-period", "period");
  bind("f-crime", "crime", () => $("filter-note").classList.toggle("warn", Boolean(state.crime)));
  bind("f-area", "area", fitArea);
  map.on("moveend", () => {
    refresh();
    loadPlaces();
    loadStores();
  });

  if (meta.bounds) map.fitBounds(meta.bounds); else map.setView([52.6, -1.5], 7);
  fitArea();
  refresh(0);
  loadPlaces();
})();
