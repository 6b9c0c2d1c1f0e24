/* Retailer stores map: the organisation's stores coloured by risk band, place boundaries for context.
   Data comes from the JSON block #retailer-map-data; nothing is fetched from other hosts. */
(function () {
  "use strict";
  var holder = document.getElementById("retailer-map");
  var source = document.getElementById("retailer-map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = L.map(holder, { zoomSnap: 0.5 });
  var tiles = holder.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { attribution: holder.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
  }
  L.geoJSON(data.boundaries, {
    style: function () { return { color: "#4d4d4d", weight: 1, fill: true, fillColor: "#cfd6df", fillOpacity: 0.35 }; },
    interactive: false
  }).addTo(map);
  var stores = L.featureGroup();
  data.stores.forEach(function (store) {
    var marker = L.circleMarker([store.lat, store.lng], {
      radius: 8, color: "#1d2430", weight: 1, fillColor: data.colours[store.band] || "#999999", fillOpacity: 0.95
    });
    var label = document.createElement("span");
    label.className = "retailer-tooltip";
    label.textContent = store.name + " (" + store.id + "): " + store.band + ", score " + store.score.toFixed(1);
    marker.bindTooltip(label);
    marker.on("click", function () { window.location.assign(store.url); });
    marker.addTo(stores);
  });
  stores.addTo(map);
  var bounds = stores.getBounds();
  if (bounds.isValid()) { map.fitBounds(bounds.pad(0.15), { maxZoom: 15 }); } else { map.setView([52.6, -1.5], 7); }
  holder.setAttribute("data-ready", String(data.stores.length));
})();
