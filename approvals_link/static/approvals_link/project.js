/* The project page (/projects/{code}/, approvals_link/views_pages.py): the red-line map and
   the "run a conformity check" button. Everything else is rendered on the server.
   Data come from the JSON block #pp-config (the CSP allows no inline script). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("pp-config").textContent);
  var pp = window.projectPage = {config: cfg, ready: false, messages: []};
  var FOOTPRINT = {color: "#E00000", weight: 3, opacity: 1, fillColor: "#E00000", fillOpacity: 0.08};
  var CONFLICT = {color: "#FF00FF", weight: 2, opacity: 1, fillColor: "#FF00FF", fillOpacity: 0.45};

  function message(text) {
    pp.messages.push(text);
    var box = document.getElementById("pp-messages");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    box.hidden = false;
  }
  function markReady() {
    if (pp.ready) { return; }
    pp.ready = true;
    document.body.setAttribute("data-ready", "1");
  }

  // Our WMTS tiles (Web Mercator grid), as the blueprint page builds them from the
  // service directory embedded by the view.
  function tileTemplate(entry) {
    var wmts = (entry.services || {}).wmts;
    if (!wmts) { return null; }
    for (var i = 0; i < wmts.tiles.length; i++) {
      if (wmts.tiles[i].tile_matrix_set === "webmercator") {
        return wmts.tiles[i].template.replace("{TileMatrix}", "{z}")
          .replace("{TileCol}", "{x}").replace("{TileRow}", "{y}");
      }
    }
    return null;
  }
  // Base, the regulatory plan and the development boundary, plus every layer the red line
  // conflicts with: the reviewer sees what the conflict is with.
  function conflictLayers() {
    var codes = {};
    ((cfg.conflicts && cfg.conflicts.features) || []).forEach(function (f) {
      codes[(f.properties || {}).layer_code] = true;
    });
    return codes;
  }
  function shownByDefault(entry) {
    return entry.category === "base" || entry.category === "regulatory_plan" ||
      entry.code === "CZKFBJ" || conflictLayers()[entry.code] === true;
  }

  function startMap() {
    var holder = document.getElementById("pp-map");
    if (!holder || !cfg.footprint) { markReady(); return; }
    var en = cfg.lang === "en";
    var c = cfg.county;
    var countyBounds = L.latLngBounds([c[1], c[0]], [c[3], c[2]]).pad(0.4);
    var map = pp.map = L.map(holder, {zoomControl: true, attributionControl: false,
                                      maxZoom: cfg.max_zoom, minZoom: 3});
    map.createPane("pp-overlay").style.zIndex = 450;
    var overlays = {}, pending = 0;
    var entries = ((cfg.directory || {}).layers || []);
    entries.forEach(function (entry, i) {
      var url = tileTemplate(entry);
      if (!url) { return; }
      var layer = L.tileLayer(url, {maxZoom: cfg.max_zoom, maxNativeZoom: cfg.max_zoom,
                                    bounds: countyBounds, attribution: "",
                                    zIndex: (entry.category === "base" ? 100 : 200) + i});
      overlays[en ? entry.name_en : entry.name_zh] = layer;
      if (shownByDefault(entry)) {
        pending += 1;
        layer.once("load", function () { pending -= 1; if (pending <= 0) { markReady(); } });
        layer.addTo(map);
      }
    });
    pp.footprint = L.geoJSON(cfg.footprint, {style: FOOTPRINT, pane: "pp-overlay"}).addTo(map);
    var features = (cfg.conflicts && cfg.conflicts.features) || [];
    pp.conflicts = L.geoJSON({type: "FeatureCollection", features: features},
                             {style: CONFLICT, pane: "pp-overlay"});
    pp.conflicts.eachLayer(function (l) {
      var p = l.feature.properties || {};
      l.bindTooltip(p.rule_name + " · " + p.area_m2 + " m²");
    });
    pp.conflicts.addTo(map);
    var named = {};
    named[en ? "Red line" : "项目红线"] = pp.footprint;
    if (features.length) { named[en ? "Conflicts" : "冲突范围"] = pp.conflicts; }
    Object.keys(overlays).forEach(function (k) { named[k] = overlays[k]; });
    L.control.layers(null, named, {collapsed: true}).addTo(map);
    L.control.scale({imperial: false}).addTo(map);
    map.fitBounds(pp.footprint.getBounds(), {padding: [30, 30], maxZoom: 18});
    pp.footprintBounds = function () {
      var b = pp.footprint.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    };
    pp.viewBounds = function () {
      var b = map.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    };
    if (pending === 0) { markReady(); }
    // Tiles that never arrive (a renderer failure) must not hold the page back.
    window.setTimeout(markReady, 6000);
  }

  function bindRunCheck() {
    var button = document.getElementById("pp-run-check");
    if (!button) { return; }
    var status = document.getElementById("pp-run-status");
    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = cfg.labels.running;
      fetch(cfg.urls.run_check, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", Accept: "application/json",
                  "X-CSRFToken": document.body.getAttribute("data-csrf")},
        body: JSON.stringify({project_code: cfg.project_code})
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (r.ok) { window.location.reload(); return; }
          var why = (body && (body.detail || body.error)) || ("HTTP " + r.status);
          status.textContent = "";
          message(cfg.labels.run_failed + why);
          button.disabled = false;
        });
      }).catch(function (e) {
        status.textContent = "";
        message(cfg.labels.run_failed + e);
        button.disabled = false;
      });
    });
  }

  function boot() {
    bindRunCheck();
    try { startMap(); } catch (e) { message(String(e)); markReady(); throw e; }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); }
  else { boot(); }
}());
