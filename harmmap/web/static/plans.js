/* harmmap plans screen: tabs for the three plan forms, and the plan on a Leaflet map.
 *
 * Leaflet is served by the app (static/vendor/leaflet); no other host is contacted unless basemap
 * tiles are configured. The plan comes from the JSON block #plan-meta written by the server.
 * Every text from the data reaches the page through textContent, never as HTML.
 */
(function () {
  "use strict";
  const meta = JSON.parse(document.getElementById("plan-meta").textContent);

  // ------------------------------------------------------------------ tabs (without script: all forms shown)
  const tabs = Array.from(document.querySelectorAll(".plan-tabs a[data-kind]"));
  const panels = Array.from(document.querySelectorAll(".plan-form[data-kind]"));
  function activate(kind) {
    tabs.forEach((tab) => tab.setAttribute("aria-selected", tab.dataset.kind === kind ? "true" : "false"));
    panels.forEach((panel) => { panel.hidden = panel.dataset.kind !== kind; });
  }
  tabs.forEach((tab) => tab.addEventListener("click", (event) => {
    event.preventDefault();
    activate(tab.dataset.kind);
    if (history.replaceState) {
      history.replaceState(null, "", location.pathname + location.search + "#plan-" + tab.dataset.kind);
    }
  }));
  const fromHash = (location.hash || "").replace("#plan-", "");
  const active = document.querySelector(".plan-tabs");
  const known = tabs.some((t) => t.dataset.kind === fromHash);
  activate(known && !meta.kind ? fromHash : (active && active.dataset.active) || "patrol");

  // ------------------------------------------------------------------ map
  const mapEl = document.getElementById("plan-map");
  if (!mapEl || !meta.kind || typeof L === "undefined") return;

  const el = window.harmmapDom.el;  // dom.js
  function fmt(x, digits) {  // whole numbers unless told otherwise
    return window.harmmapDom.fmt(x, digits === undefined ? 0 : digits);
  }
  function tip(lines) {
    const box = el("div");
    lines.filter((line) => line !== null && line !== undefined && line !== "").forEach((line, i) => {
      box.appendChild(el(i === 0 ? "strong" : "div", line));
    });
    return box;
  }
  function badge(number, colour, cls) {
    const node = el("div", null, cls || "plan-stop");
    node.appendChild(el("span", number));
    node.style.background = colour;
    return L.divIcon({ className: "", html: node, iconSize: [24, 24], iconAnchor: [12, 12] });
  }
  const legend = document.getElementById("plan-legend");
  function legendRow(colour, text, round) {
    const row = el("div", null, "legend-row");
    const swatch = el("span", null, "swatch" + (round ? " round" : ""));
    swatch.style.background = colour;
    row.appendChild(swatch);
    row.appendChild(el("span", text));
    legend.appendChild(row);
  }

  const map = L.map(mapEl, { preferCanvas: false, minZoom: 4, maxZoom: 18 }).setView([53.0, -1.5], 6);
  map.attributionControl.setPrefix("Leaflet");
  if (meta.tiles_url) {
    L.tileLayer(meta.tiles_url, { attribution: meta.tiles_attribution, maxZoom: 19 }).addTo(map);
  } else {
    mapEl.classList.add("no-tiles");
  }
  L.control.scale({ imperial: false }).addTo(map);
  const canvas = L.canvas({ padding: 0.2 });
  const bounds = L.latLngBounds([]);
  function extend(lat, lng) { if (lat !== null && lng !== null) bounds.extend([lat, lng]); }

  (meta.outlines || []).forEach((outline) => {
    const shape = L.geoJSON(JSON.parse(outline.geometry), {
      style: { color: "#1d2430", weight: 1.5, fill: true, fillOpacity: 0.04, dashArray: "4 3" },
      interactive: false,
    }).addTo(map);
    bounds.extend(shape.getBounds());
  });
  if ((meta.outlines || []).length) legendRow("#eef0f2", "Operation area places");

  const layers = meta.layers || {};
  if (meta.kind === "patrol") {
    (layers.teams || []).forEach((team) => {
      const path = team.stops.map((s) => [s.lat, s.lng]);
      if (path.length > 1) {
        L.polyline(path.concat([path[0]]), { color: team.colour, weight: 3, opacity: 0.85 }).addTo(map);
      }
      team.stops.forEach((s) => {
        extend(s.lat, s.lng);
        L.marker([s.lat, s.lng], { icon: badge(s.order, team.colour), keyboard: false })
          .bindTooltip(tip([s.name, "Team " + team.team + ", stop " + s.order, "Harm " + fmt(s.harm),
            s.visit_times ? "Visits " + s.visit_times : null]))
          .addTo(map);
      });
      legendRow(team.colour, "Team " + team.team + " (" + team.stops.length + " stop(s), loop in visit order)");
    });
  } else if (meta.kind === "deploy") {
    const demand = layers.demand || { lat: [], lng: [], covered: [] };
    for (let i = 0; i < demand.lat.length; i += 1) {
      L.circleMarker([demand.lat[i], demand.lng[i]], {
        renderer: canvas, radius: 2.5, stroke: false, fillOpacity: 0.7,
        fillColor: demand.covered[i] ? "#1a9850" : "#9e9e9e", interactive: false,
      }).addTo(map);
      extend(demand.lat[i], demand.lng[i]);
    }
    (layers.sites || []).forEach((site) => {
      const colour = meta.team_colours[(site.team - 1) % meta.team_colours.length];
      L.circle([site.lat, site.lng], { radius: layers.radius_m, color: colour, weight: 2, fillOpacity: 0.08 })
        .addTo(map);
      L.marker([site.lat, site.lng], { icon: badge(site.team, colour, "plan-stop plan-site"), keyboard: false })
        .bindTooltip(tip([site.name, "Team " + site.team, "Covers " + fmt(site.covered)]))
        .addTo(map);
      extend(site.lat, site.lng);
    });
    legendRow("#1f77b4", "Chosen site (team number) and its " + fmt(layers.radius_m) + " m service radius");
    legendRow("#1a9850", "Demand point covered", true);
    legendRow("#9e9e9e", "Demand point not covered", true);
    if (demand.shown < demand.total) {
      legend.appendChild(el("p", "The " + fmt(demand.shown) + " demand points of most harm are drawn, of " +
        fmt(demand.total) + ".", "hint"));
    }
  } else if (meta.kind === "stores") {
    (layers.stores || []).forEach((store) => {
      L.circleMarker([store.lat, store.lng], {
        radius: 6, color: "#fff", weight: 1, fillColor: store.colour, fillOpacity: 0.95,
      }).bindTooltip(tip([store.name || store.store_id, store.org_id + " / " + store.store_id,
        store.rank ? "Rank " + store.rank + ", tier " + store.tier : "Not listed", store.reasons]))
        .addTo(map);
      extend(store.lat, store.lng);
    });
    legendRow(meta.tier_colours["1"], "Tier 1: own incidents and a hot area", true);
    legendRow(meta.tier_colours["2"], "Tier 2: own incidents only", true);
    legendRow(meta.tier_colours["3"], "Tier 3: hot area only", true);
    legendRow(meta.tier_colours["0"], "No reason code", true);
  }
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.08), { maxZoom: 15 });
}());
