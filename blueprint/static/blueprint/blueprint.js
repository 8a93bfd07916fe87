/* The blueprint page (/blueprint/): Leaflet over our own WMTS, URL contract, layer tree,
   project/parcel highlight, identify, search, coordinate readout, embed events.
   Configuration comes from the JSON script tag #bp-config (blueprint/views_page.py). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("bp-config").textContent);
  var DICT = {
    zh: {
      noProject: "未找到项目：", projectError: "无法读取项目：", noFootprint: "该项目没有红线：",
      servicesError: "无法读取服务目录", legendError: "图例读取失败", opacity: "透明度",
      lonlat: "CGCS2000 经纬度", gk: "高斯-克吕格 3° 37 带 (EPSG:4525)",
      identifyNone: "此处没有要素", identifyError: "点查失败：", searchError: "搜索失败：",
      searchNone: "没有结果", localBase: "本地底图（县界、道路、水系）", tdtVec: "天地图矢量",
      tdtImg: "天地图影像", outOfCounty: "该位置超出内乡县范围", project: "项目", parcel: "地块",
      measureHint: "在地图上点击各点，然后点“完成”", measureTooFew: "点数不足",
      printing: "正在生成打印图…", printError: "打印失败：", printDone: "已下载：",
      measureError: "量算失败：", boundaryError: "红线检查失败：", length: "长度", area: "面积", perimeter: "周长", mu: "亩",
      categories: {base: "基础地理", control_line: "三区三线", other_control_line: "其他控制线",
                   regulatory_plan: "控制性详细规划", special_plan: "专项规划"}
    },
    en: {
      noProject: "No such project: ", projectError: "Could not load the project: ",
      noFootprint: "The project has no red line: ", servicesError: "Could not load the service directory",
      legendError: "legend unavailable", opacity: "Opacity", lonlat: "CGCS2000 lon/lat",
      gk: "Gauss-Kruger 3° zone 37 (EPSG:4525)", identifyNone: "No features here",
      identifyError: "Identify failed: ", searchError: "Search failed: ", searchNone: "No results",
      localBase: "Local base map (boundary, roads, water)", tdtVec: "Tianditu vector",
      tdtImg: "Tianditu imagery", outOfCounty: "This place lies outside Neixiang County",
      project: "Project", parcel: "Parcel",
      measureHint: "Click points on the map, then Finish", measureTooFew: "Not enough points",
      printing: "Rendering the print…", printError: "Printing failed: ", printDone: "Downloaded: ",
      measureError: "Measuring failed: ", boundaryError: "Boundary check failed: ", length: "Length", area: "Area", perimeter: "perimeter",
      mu: "mu",
      categories: {base: "Base data", control_line: "Three zones, three lines",
                   other_control_line: "Other control lines", regulatory_plan: "Regulatory plan",
                   special_plan: "Special plans"}
    }
  };
  var T = DICT[cfg.lang] || DICT.zh;
  var en = cfg.lang === "en";
  var started = window.performance ? performance.now() : 0;

  // proj4 (130 KB) is loaded with the page only for the CGCS2000 grid (crs=4490); on the Web
  // Mercator grid it comes after the initial view is drawn (coordinate readout only).
  var projDefined = false;
  function defineProjections() {
    if (projDefined || !window.proj4) { return projDefined; }
    proj4.defs("EPSG:4490", "+proj=longlat +ellps=GRS80 +no_defs +type=crs");
    proj4.defs("EPSG:4525", "+proj=tmerc +lat_0=0 +lon_0=111 +k=1 +x_0=37500000 +y_0=0 " +
               "+ellps=GRS80 +units=m +no_defs +type=crs");
    projDefined = true;
    return true;
  }
  defineProjections();
  var proj4Loading = null;
  function loadProj4() {
    if (defineProjections()) { return Promise.resolve(true); }
    if (!proj4Loading) {
      proj4Loading = new Promise(function (resolve) {
        var script = document.createElement("script");
        script.src = cfg.scripts.proj4;
        script.onload = function () { resolve(defineProjections()); };
        script.onerror = function () { resolve(false); };
        document.head.appendChild(script);
      });
    }
    return proj4Loading;
  }

  var bp = window.blueprint = {config: cfg, ready: false, layers: {}, messages: [], events: []};
  var map = null, highlight = null, selection = null, baseLayer = null;
  var entries = [];  // directory layer entries, in directory order
  var visible = [];  // visible layer codes
  var pending = 0;   // things the initial view waits for

  // --- helpers ---------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function message(text) {
    bp.messages.push(text);
    var box = document.getElementById("bp-messages");
    document.getElementById("bp-message-list").appendChild(el("li", {}, text));
    box.hidden = false;
  }
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          return {status: r.status, ok: r.ok, body: body};
        });
      });
  }
  function detail(res) {
    return (res.body && (res.body.detail || res.body.error)) || ("HTTP " + res.status);
  }
  function round(v, n) { return Number(v.toFixed(n)); }
  function countyBounds() {
    var c = cfg.county;
    return L.latLngBounds([c[1], c[0]], [c[3], c[2]]);
  }
  function inCounty(latlng) { return countyBounds().pad(0.4).contains(latlng); }
  bp.gk = function (lon, lat) {
    if (!defineProjections()) { return null; }
    var p = proj4("EPSG:4490", "EPSG:4525", [lon, lat]);
    return {x: p[1], y: p[0]};  // surveyors' X = northing, Y = easting (zone-prefixed)
  };

  // --- embed: events for the parent window ----------------------------------------------
  var parentOrigin = null;
  if (window.parent !== window) {
    if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
      parentOrigin = window.location.ancestorOrigins[0];
    } else if (document.referrer) {
      try { parentOrigin = new URL(document.referrer).origin; } catch (e) { parentOrigin = null; }
    }
  }
  function emit(type, data) {
    var msg = Object.assign({type: "blueprint:" + type}, data);
    bp.events.push(msg);
    // Only the real parent (allowed by CSP frame-ancestors to embed us) receives events.
    if (parentOrigin && parentOrigin !== "null") { window.parent.postMessage(msg, parentOrigin); }
  }

  // --- the map's grid --------------------------------------------------------------------
  function matrixSet(directory, id) {
    var sets = ((directory.services || {}).wmts || {}).tile_matrix_sets || [];
    for (var i = 0; i < sets.length; i++) { if (sets[i].id === id) { return sets[i]; } }
    return null;
  }
  function makeCrs(directory) {
    if (cfg.crs !== "4490") { return L.CRS.EPSG3857; }
    var set = matrixSet(directory, "cgcs2000");
    var resolutions = set ? set.matrices.map(function (m) { return m.resolution; })
      : Array.apply(null, Array(21)).map(function (_, z) { return 1.40625 / Math.pow(2, z); });
    var origin = set ? set.top_left_xy : [-180, 90];
    return new L.Proj.CRS("EPSG:4490", "+proj=longlat +ellps=GRS80 +no_defs +type=crs", {
      origin: origin, resolutions: resolutions,
      bounds: L.bounds([-180, -90], [180, 90])
    });
  }
  function tileTemplate(entry) {
    var wmts = (entry.services || {}).wmts;
    if (!wmts) { return null; }
    var id = cfg.crs === "4490" ? "cgcs2000" : "webmercator";
    for (var i = 0; i < wmts.tiles.length; i++) {
      if (wmts.tiles[i].tile_matrix_set === id) {
        return wmts.tiles[i].template.replace("{TileMatrix}", "{z}")
          .replace("{TileCol}", "{x}").replace("{TileRow}", "{y}");
      }
    }
    return null;
  }

  // --- layers ----------------------------------------------------------------------------
  function layerBounds(entry) {
    // Tiles are asked for only where the layer has features (its published extent, with a
    // margin for strokes): fewer requests at startup, no empty tiles rendered.
    var county = countyBounds().pad(0.4);
    var e = entry.extent;
    if (!e) { return county; }
    var b = L.latLngBounds([e[1], e[0]], [e[3], e[2]]).pad(0.02);
    return county.intersects(b) ? b : county;
  }
  // Public layers' tiles are the same for everyone: fetched without cookies, so the server
  // neither loads nor re-saves the session for each of the ~100 tiles of a view (about half
  // of a cached tile's cost), and shared caches may keep them. Other layers' tiles carry the
  // session as usual (their access is checked per request).
  var PublicTileLayer = L.TileLayer.extend({
    createTile: function (coords, done) {
      var tile = document.createElement("img");
      tile.alt = "";
      tile.setAttribute("role", "presentation");
      tile._bpPending = true;
      // A tile left behind (zoom changed) is not aborted: its answer is read and dropped,
      // which keeps the connection alive for the next tiles (an abort closes it).
      fetch(this.getTileUrl(coords), {credentials: "omit"})
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.blob();
        })
        .then(function (blob) {
          tile._bpPending = false;
          if (tile._bpDropped) { return; }
          var src = URL.createObjectURL(blob);
          tile.onload = function () { URL.revokeObjectURL(src); done(null, tile); };
          tile.onerror = function (e) { URL.revokeObjectURL(src); done(e, tile); };
          tile.src = src;
        })
        .catch(function (err) {
          tile._bpPending = false;
          if (tile._bpDropped) { return; }
          tile.setAttribute("data-bp-failed", "1");
          done(err, tile);
        });
      return tile;
    },
    _abortLoading: function () {
      // Tiles of a zoom left before their answer came: forget them, as Leaflet does for
      // images still loading (so the layer's "load" waits only for the current zoom).
      for (var key in this._tiles) {
        var t = this._tiles[key];
        if (t.coords.z !== this._tileZoom && t.el._bpPending) {
          t.el._bpDropped = true;
          L.DomUtil.remove(t.el);
          delete this._tiles[key];
          this.fire("tileabort", {tile: t.el, coords: t.coords});
        }
      }
      L.TileLayer.prototype._abortLoading.call(this);
    },
    _removeTile: function (key) {
      var t = this._tiles[key];
      if (t && t.el._bpPending) { t.el._bpDropped = true; }
      return L.TileLayer.prototype._removeTile.call(this, key);
    }
  });
  function tileLayer(entry, order) {
    var url = tileTemplate(entry);
    if (!url) { return null; }
    var make = entry.access === "public" && window.fetch && window.URL && URL.createObjectURL
      ? function (u, o) { return new PublicTileLayer(u, o); } : L.tileLayer;
    return make(url, {
      maxZoom: cfg.max_zoom, maxNativeZoom: cfg.max_zoom, opacity: 1,
      bounds: layerBounds(entry), zIndex: (entry.category === "base" ? 100 : 200) + order,
      attribution: ""
    });
  }
  function setVisible(code, on, quiet) {
    var rec = bp.layers[code];
    if (!rec || !rec.tiles) { return; }
    if (on && !map.hasLayer(rec.tiles)) { rec.tiles.addTo(map); loadLegend(rec); }
    if (!on && map.hasLayer(rec.tiles)) { map.removeLayer(rec.tiles); }
    if (rec.checkbox) { rec.checkbox.checked = on; }
    if (rec.item) { rec.item.classList.toggle("bp-on", on); }
    visible = entries.map(function (e) { return e.code; })
      .filter(function (c) { return bp.layers[c].tiles && map.hasLayer(bp.layers[c].tiles); });
    if (!quiet) { syncUrl(); }
  }
  bp.setVisible = setVisible;
  bp.visibleLayers = function () { return visible.slice(); };

  function legendUrl(code) {
    return cfg.urls.legend + "?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=" +
      encodeURIComponent(code) + "&FORMAT=application/json&LANGUAGE=" + (en ? "en" : "zh");
  }
  var legendQueue = [];
  function loadLegend(rec) {
    // Legends wait until the initial view is drawn: tiles first.
    if (!bp.ready) { legendQueue.push(rec); return; }
    if (rec.legendLoaded || !rec.legend) { return; }
    rec.legendLoaded = true;
    getJSON(legendUrl(rec.entry.code)).then(function (res) {
      if (!res.ok || !res.body.entries) {
        rec.legend.appendChild(el("li", {"class": "bp-legend-error"}, T.legendError));
        return;
      }
      res.body.entries.forEach(function (row) {
        var li = el("li", {"class": "bp-legend-row"});
        var sw = el("span", {"class": "bp-swatch bp-swatch-" + rec.entry.geometry_type});
        if (row.fill) { sw.style.backgroundColor = row.fill; sw.style.opacity = 1; }
        if (row.fill && row.fill_opacity !== undefined && rec.entry.geometry_type === "polygon") {
          sw.style.backgroundColor = hexAlpha(row.fill, row.fill_opacity);
        }
        sw.style.borderColor = row.stroke || "#666";
        if (rec.entry.geometry_type === "line") { sw.style.borderTopWidth = Math.max(1, Math.round(row.stroke_width || 1)) + "px"; }
        if (row.stroke_dasharray) { sw.style.borderStyle = "dashed"; }
        li.appendChild(sw);
        li.appendChild(el("span", {"class": "bp-legend-label"}, row.label));
        rec.legend.appendChild(li);
      });
    });
  }
  function hexAlpha(hex, alpha) {
    var h = hex.replace("#", "");
    return "rgba(" + parseInt(h.slice(0, 2), 16) + "," + parseInt(h.slice(2, 4), 16) + "," +
      parseInt(h.slice(4, 6), 16) + "," + alpha + ")";
  }

  function buildTree() {
    var tree = document.getElementById("bp-tree");
    if (!tree) { return; }
    tree.textContent = "";
    var groups = {};
    entries.forEach(function (entry) {
      var cat = entry.category;
      if (!groups[cat]) {
        var section = el("section", {"class": "bp-group", "data-category": cat});
        section.appendChild(el("h3", {}, T.categories[cat] || entry.category_label || cat));
        groups[cat] = el("ul", {"class": "bp-layers"});
        section.appendChild(groups[cat]);
        tree.appendChild(section);
      }
      var rec = bp.layers[entry.code];
      var li = el("li", {"class": "bp-layer", "data-layer": entry.code});
      var label = el("label", {"class": "bp-layer-name"});
      var box = el("input", {type: "checkbox", "data-layer": entry.code});
      box.checked = visible.indexOf(entry.code) >= 0;
      box.addEventListener("change", function () { setVisible(entry.code, box.checked); });
      label.appendChild(box);
      label.appendChild(el("span", {}, en ? (entry.name_en || entry.name_zh) : entry.name_zh));
      li.appendChild(label);
      var range = el("input", {type: "range", min: "0", max: "100", value: "100",
                               "class": "bp-opacity", "aria-label": T.opacity,
                               title: T.opacity, "data-layer": entry.code});
      range.addEventListener("input", function () {
        if (rec.tiles) { rec.tiles.setOpacity(Number(range.value) / 100); }
      });
      li.appendChild(range);
      var legend = el("ul", {"class": "bp-legend", "data-layer": entry.code});
      li.appendChild(legend);
      groups[cat].appendChild(li);
      rec.checkbox = box; rec.legend = legend; rec.item = li;
      li.classList.toggle("bp-on", box.checked);
      if (box.checked) { loadLegend(rec); }
    });
  }

  function buildBasemaps() {
    var holder = document.getElementById("bp-basemap");
    if (!holder || !cfg.tianditu) { return; }
    var options = [["local", T.localBase], ["vec", T.tdtVec], ["img", T.tdtImg]];
    options.forEach(function (opt) {
      var label = el("label", {});
      var radio = el("input", {type: "radio", name: "bp-base", value: opt[0]});
      radio.checked = opt[0] === "local";
      radio.addEventListener("change", function () { setBase(opt[0]); });
      label.appendChild(radio);
      label.appendChild(el("span", {}, opt[1]));
      holder.appendChild(label);
    });
  }
  function setBase(kind) {
    if (baseLayer) { map.removeLayer(baseLayer); baseLayer = null; }
    if (kind === "local") { return; }
    var c = cfg.crs === "4490";
    var url = "https://t{s}.tianditu.gov.cn/" + kind + (c ? "_c" : "_w") +
      "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=" + kind + "&STYLE=default" +
      "&TILEMATRIXSET=" + (c ? "c" : "w") + "&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}" +
      "&TILECOL={x}&tk=" + encodeURIComponent(cfg.tianditu_key);
    baseLayer = L.tileLayer(url, {subdomains: "01234567", minZoom: 1, maxZoom: 18, zIndex: 1});
    baseLayer.addTo(map);
  }

  // --- URL state -------------------------------------------------------------------------
  function viewBbox() {
    var b = map.getBounds();
    return [round(b.getWest(), 6), round(b.getSouth(), 6), round(b.getEast(), 6),
            round(b.getNorth(), 6)];
  }
  function syncUrl() {
    if (!map) { return; }
    var c = map.getCenter();
    var q = new URLSearchParams();
    if (cfg.project) { q.set("project", cfg.project); }
    if (cfg.parcel) { q.set("parcel", cfg.parcel.parcel_no); }
    q.set("layers", visible.join(","));
    q.set("center", round(c.lng, 6) + "," + round(c.lat, 6));
    q.set("zoom", String(map.getZoom()));
    if (cfg.crs !== "3857") { q.set("crs", cfg.crs); }
    if (cfg.embed) { q.set("embed", "1"); }
    if (en) { q.set("lang", "en"); }
    var url = window.location.pathname + "?" + q.toString().replace(/%2C/g, ",");
    window.history.replaceState(null, "", url);
    var lang = document.getElementById("bp-lang");
    if (lang) {
      var other = new URLSearchParams(q);
      if (en) { other.delete("lang"); } else { other.set("lang", "en"); }
      lang.setAttribute("href", "?" + other.toString().replace(/%2C/g, ","));
    }
    emit("view", {bbox: viewBbox(), zoom: map.getZoom(), center: [round(c.lng, 6), round(c.lat, 6)],
                  layers: visible.slice(), crs: cfg.crs});
  }

  // --- highlight (project, parcel, search result) ----------------------------------------
  var HIGHLIGHT = {color: "#FF00FF", weight: 3, fill: true, fillColor: "#FF00FF", fillOpacity: 0.12};
  function showHighlight(geometry, props) {
    if (highlight) { map.removeLayer(highlight); }
    highlight = L.geoJSON(geometry, {style: HIGHLIGHT, pane: "bp-highlight",
                                     pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 8, pane: "bp-highlight"}); }});
    highlight.addTo(map);
    highlight.on("click", function () { emit("select", props); });
    selection = props;  // what a print highlights (project or parcel)
    return highlight.getBounds();
  }
  bp.highlightBounds = function () {
    if (!highlight) { return null; }
    var b = highlight.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
  };
  function zoomTo(bounds, explicitView) {
    if (!explicitView && bounds && bounds.isValid()) { map.fitBounds(bounds, {padding: [30, 30], maxZoom: 18}); }
  }
  function projectProps(data) {
    return {kind: "project", project_code: data.project_code, name: data.name,
            area_m2: data.area_m2};
  }
  function loadProject(explicitView) {
    pending += 1;
    return getJSON(cfg.urls.project + encodeURIComponent(cfg.project)).then(function (res) {
      if (res.status === 404) { message(T.noProject + cfg.project); return; }
      if (!res.ok) { message(T.projectError + cfg.project + " (" + detail(res) + ")"); return; }
      var fp = res.body.footprint;
      if (!fp || !fp.geometry) { message(T.noFootprint + cfg.project); return; }
      var props = projectProps({project_code: res.body.project_code, name: res.body.name,
                                area_m2: fp.area_m2});
      zoomTo(showHighlight(fp.geometry, props), explicitView);
      selection = props;
    }).catch(function (e) { message(T.projectError + cfg.project + " (" + e + ")"); })
      .then(function () { pending -= 1; checkReady(); });
  }

  // --- identify ----------------------------------------------------------------------------
  function identify(e) {
    if (!inCounty(e.latlng)) { message(T.outOfCounty); return; }
    var url = cfg.urls.identify + "?lon=" + round(e.latlng.lng, 7) + "&lat=" +
      round(e.latlng.lat, 7) + "&zoom=" + map.getZoom() + "&lang=" + (en ? "en" : "zh") +
      "&layers=" + encodeURIComponent(visible.join(","));
    getJSON(url).then(function (res) {
      if (!res.ok) { message(T.identifyError + detail(res)); return; }
      var box = el("div", {"class": "bp-identify"});
      var found = [];
      (res.body.layers || []).forEach(function (layer) {
        (layer.features || []).forEach(function (f) {
          found.push({layer: layer.layer, id: f.id, properties: f.properties});
          box.appendChild(el("h4", {}, layer.name));
          var table = el("table", {"class": "bp-fields"});
          (f.fields || []).forEach(function (fl) {
            var tr = el("tr", {});
            tr.appendChild(el("th", {}, fl.label));
            tr.appendChild(el("td", {}, fl.value + (fl.unit ? " " + fl.unit : "")));
            table.appendChild(tr);
          });
          box.appendChild(table);
        });
      });
      if (!found.length) { box.appendChild(el("p", {}, T.identifyNone)); }
      L.popup({maxWidth: 360, maxHeight: 320}).setLatLng(e.latlng).setContent(box).openOn(map);
      emit("select", {kind: "identify", point: [round(e.latlng.lng, 7), round(e.latlng.lat, 7)],
                      features: found});
    }).catch(function (err) { message(T.identifyError + err); });
  }

  // --- search ------------------------------------------------------------------------------
  function showResult(r) {
    var props = {kind: r.kind, label: r.label};
    if (r.project_code) { props.project_code = r.project_code; }
    if (r.parcel_no) { props.parcel_no = r.parcel_no; }
    if (r.geometry) {
      var b = showHighlight(r.geometry, props);
      if (r.kind === "coordinates") { map.setView(b.getCenter(), Math.max(map.getZoom(), 16)); }
      else { zoomTo(b, false); }
    } else if (r.bbox) {
      zoomTo(L.latLngBounds([r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]), false);
    }
    emit("select", props);
  }
  bp.search = function (text) {
    var results = document.getElementById("bp-results");
    return getJSON(cfg.urls.search + "?q=" + encodeURIComponent(text) + "&lang=" + (en ? "en" : "zh"))
      .then(function (res) {
        if (results) { results.textContent = ""; results.hidden = false; }
        if (!res.ok) { message(T.searchError + detail(res)); return res; }
        var list = res.body.results || [];
        if (!list.length) { message(T.searchNone); return res; }
        if (results) {
          var ul = el("ul", {"class": "bp-result-list", "data-kind": res.body.kind});
          list.forEach(function (r) {
            var li = el("li", {"data-kind": r.kind});
            var a = el("button", {type: "button", "class": "bp-result"}, r.label);
            a.addEventListener("click", function () { showResult(r); });
            li.appendChild(a);
            ul.appendChild(li);
          });
          results.appendChild(ul);
        }
        showResult(list[0]);
        return res;
      });
  };

  // --- measure (points clicked on the map, measured by /blueprint/api/measure) ------------
  var measure = {mode: null, points: [], shape: null};
  function measureDraw() {
    if (measure.shape) { map.removeLayer(measure.shape); measure.shape = null; }
    if (!measure.points.length) { return; }
    var opts = {color: "#D2691E", weight: 2, dashArray: "6 4", pane: "bp-highlight"};
    measure.shape = (measure.mode === "polygon" && measure.points.length > 2)
      ? L.polygon(measure.points, opts) : L.polyline(measure.points, opts);
    measure.shape.addTo(map);
  }
  function measureStart(mode) {
    measure.mode = mode; measure.points = []; measureDraw();
    document.getElementById("bp-measure-finish").hidden = false;
    document.getElementById("bp-measure-result").textContent = T.measureHint;
  }
  function measureFinish() {
    var out = document.getElementById("bp-measure-result");
    var pts = measure.points.map(function (p) { return [round(p.lng, 8), round(p.lat, 8)]; });
    var mode = measure.mode;
    measure.mode = null;
    document.getElementById("bp-measure-finish").hidden = true;
    var need = mode === "polygon" ? 3 : 2;
    if (pts.length < need) { out.textContent = T.measureTooFew; return Promise.resolve(null); }
    var geometry = mode === "polygon" ? {type: "Polygon", coordinates: [pts.concat([pts[0]])]}
      : {type: "LineString", coordinates: pts};
    return fetch(cfg.urls.measure, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", Accept: "application/json",
                "X-CSRFToken": document.body.getAttribute("data-csrf") || ""},
      body: JSON.stringify(geometry)
    }).then(function (r) { return r.json().then(function (b) { return {ok: r.ok, status: r.status, body: b}; }); })
      .then(function (res) {
        if (!res.ok) { out.textContent = ""; message(T.measureError + detail(res)); return res; }
        var b = res.body;
        out.textContent = b.type === "Polygon"
          ? T.area + " " + b.area_m2.toFixed(1) + " m² · " + b.area_ha.toFixed(4) + " ha · " +
            b.area_mu.toFixed(2) + " " + T.mu + " · " + T.perimeter + " " + b.perimeter_m.toFixed(1) + " m"
          : T.length + " " + b.length_m.toFixed(1) + " m";
        return res;
      });
  }
  function bindMeasure() {
    var section = document.getElementById("bp-measure");
    if (!section) { return; }
    section.querySelectorAll("button[data-measure]").forEach(function (btn) {
      btn.addEventListener("click", function () { measureStart(btn.getAttribute("data-measure")); });
    });
    document.getElementById("bp-measure-finish").addEventListener("click", measureFinish);
    document.getElementById("bp-measure-clear").addEventListener("click", function () {
      measure.mode = null; measure.points = []; measureDraw();
      document.getElementById("bp-measure-finish").hidden = true;
      document.getElementById("bp-measure-result").textContent = "";
    });
  }
  function mapClick(e) {
    if (measure.mode) { measure.points.push(e.latlng); measureDraw(); return; }
    identify(e);
  }

  // --- check my boundary (upload; /blueprint/api/boundary-check; nothing is stored) --------
  var boundaryLayer = null;
  function bindBoundary() {
    var form = document.getElementById("bp-boundary-form");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = document.getElementById("bp-boundary-result");
      out.textContent = "";
      fetch(cfg.urls.boundary, {method: "POST", credentials: "same-origin", body: new FormData(form),
                                headers: {Accept: "application/json",
                                          "X-CSRFToken": document.body.getAttribute("data-csrf") || ""}})
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (b) { return {ok: r.ok, status: r.status, body: b}; }); })
        .then(function (res) {
          var b = res.body || {};
          var list = el("ul", {"class": "bp-boundary-messages"});
          (b.problems || []).forEach(function (p) { list.appendChild(el("li", {}, p.message || JSON.stringify(p))); });
          (b.notes || []).forEach(function (n) { list.appendChild(el("li", {}, typeof n === "string" ? n : JSON.stringify(n))); });
          if (!res.ok) {
            message(T.boundaryError + detail(res));
            out.appendChild(list);
            return;
          }
          if (boundaryLayer) { map.removeLayer(boundaryLayer); }
          boundaryLayer = L.geoJSON({type: "FeatureCollection", features: b.features || []},
                                    {style: {color: "#FF6600", weight: 3, fillOpacity: 0.1}, pane: "bp-highlight"});
          boundaryLayer.addTo(map);
          if (boundaryLayer.getBounds().isValid()) { map.fitBounds(boundaryLayer.getBounds(), {padding: [30, 30], maxZoom: 18}); }
          out.appendChild(el("p", {"class": "bp-boundary-area"}, T.area + " " + b.total_area_m2 + " m² · " +
                             b.total_area_ha + " ha · " + b.total_area_mu + " " + T.mu));
          out.appendChild(list);
          bp.boundaryBounds = function () {
            var bb = boundaryLayer.getBounds();
            return [bb.getWest(), bb.getSouth(), bb.getEast(), bb.getNorth()];
          };
          emit("select", {kind: "boundary", area_m2: b.total_area_m2});
        }).catch(function (err) { message(T.boundaryError + err); });
    });
  }

  // --- print (server-side render of the current view: /blueprint/api/print) -------------
  function printBbox() {
    // The view, clamped to the county and its margin (the server refuses anything beyond).
    var b = map.getBounds(), c = cfg.county, m = cfg.county_margin || 0;
    return [round(Math.max(b.getWest(), c[0] - m), 7), round(Math.max(b.getSouth(), c[1] - m), 7),
            round(Math.min(b.getEast(), c[2] + m), 7), round(Math.min(b.getNorth(), c[3] + m), 7)];
  }
  function printRequest(options) {
    var o = options || {};
    var paper = (o.paper || "A4-landscape").split("-");
    var body = {bbox: printBbox(), crs: cfg.crs, layers: visible.slice(), lang: en ? "en" : "zh",
                format: o.format || "png", paper: paper[0], orientation: paper[1] || "landscape",
                dpi: Number(o.dpi || 150), title: o.title || ""};
    if (selection && selection.kind === "project" && selection.project_code) {
      body.project = selection.project_code;
    } else if (selection && selection.kind === "parcel" && selection.parcel_no) {
      body.parcel = selection.parcel_no;
    }
    return body;
  }
  bp.printRequest = printRequest;
  function filenameOf(res, fallback) {
    var cd = res.headers.get("Content-Disposition") || "";
    var m = /filename="([^"]+)"/.exec(cd);
    return m ? m[1] : fallback;
  }
  bp.print = function (options) {
    var status = document.getElementById("bp-print-status");
    var body = printRequest(options);
    if (status) { status.textContent = T.printing; }
    return fetch(cfg.urls.print, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", Accept: "application/json, image/png, application/pdf",
                "X-CSRFToken": document.body.getAttribute("data-csrf") || ""}
    }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          if (status) { status.textContent = ""; }
          message(T.printError + detail({status: r.status, body: b}));
          return {ok: false, status: r.status, body: b};
        });
      }
      return r.blob().then(function (blob) {
        var name = filenameOf(r, "blueprint." + body.format);
        var url = URL.createObjectURL(blob);
        var a = el("a", {href: url, download: name, hidden: "hidden"});
        document.body.appendChild(a);
        a.click();
        a.remove();
        window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        if (status) { status.textContent = T.printDone + name; }
        return {ok: true, status: r.status, name: name, size: blob.size};
      });
    }).catch(function (err) {
      if (status) { status.textContent = ""; }
      message(T.printError + err);
      return {ok: false, error: String(err)};
    });
  };
  function bindPrint() {
    var form = document.getElementById("bp-print-form");
    if (!form) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = document.getElementById("bp-print-submit");
      button.disabled = true;
      bp.print({title: document.getElementById("bp-print-title").value.trim(),
                format: document.getElementById("bp-print-format").value,
                paper: document.getElementById("bp-print-paper").value,
                dpi: document.getElementById("bp-print-dpi").value})
        .then(function () { button.disabled = false; });
    });
  }

  // --- coordinates -------------------------------------------------------------------------
  function showCoords(latlng) {
    var out = document.getElementById("bp-coords");
    if (!out) { return; }
    var gk = bp.gk(latlng.lng, latlng.lat);
    out.textContent = T.lonlat + " " + latlng.lng.toFixed(6) + ", " + latlng.lat.toFixed(6) +
      (gk ? " · " + T.gk + " X " + gk.x.toFixed(3) + " Y " + gk.y.toFixed(3) : "");
  }

  // --- ready -------------------------------------------------------------------------------
  function checkReady() {
    if (bp.ready || pending > 0) { return; }
    bp.ready = true;
    bp.readyMs = window.performance ? Math.round(performance.now() - started) : null;
    // For benchmarks (bench/page_bench.py): navigation start -> initial view drawn.
    if (window.performance && performance.mark) {
      performance.mark("blueprint-ready");
      window.__blueprintReady = performance.now();
    }
    document.body.setAttribute("data-ready", "1");
    legendQueue.splice(0).forEach(loadLegend);
    loadProj4().then(function () { showCoords(map.getCenter()); });
    emit("ready", {project: cfg.project || null});
    syncUrl();
  }

  // --- start -------------------------------------------------------------------------------
  function start(directory) {
    var crs = makeCrs(directory);
    map = L.map("bp-map", {crs: crs, zoomControl: true, attributionControl: false,
                           maxZoom: cfg.max_zoom, minZoom: cfg.crs === "4490" ? 1 : 3});
    bp.map = map;
    map.createPane("bp-highlight").style.zIndex = 450;
    entries = (directory.layers || []).filter(function (e) { return tileTemplate(e); });
    var wanted = cfg.layers;
    if (wanted === null || wanted === undefined) {
      wanted = entries.filter(function (e) {
        return e.category === "base" || e.category === "regulatory_plan" || e.code === "CZKFBJ";
      }).map(function (e) { return e.code; });
    }
    entries.forEach(function (entry, i) {
      bp.layers[entry.code] = {entry: entry, tiles: tileLayer(entry, i)};
    });
    var missing = wanted.filter(function (c) { return !bp.layers[c]; });
    if (missing.length) { message((en ? "Layers without tiles: " : "图层无瓦片服务：") + missing.join(", ")); }
    // Initial view: bbox, or center+zoom, or the parcel / project (zoomed later), or the county.
    var explicitView = false;
    if (cfg.bbox) {
      map.fitBounds(L.latLngBounds([cfg.bbox[1], cfg.bbox[0]], [cfg.bbox[3], cfg.bbox[2]]));
      explicitView = true;
    } else if (cfg.center) {
      map.setView([cfg.center[1], cfg.center[0]], cfg.zoom);
      explicitView = true;
    } else if (cfg.project_data) {
      // The red line came with the page: open straight at it, so the only tiles asked for
      // are the project's (no county view first, no round trip for the footprint).
      map.fitBounds(L.geoJSON(cfg.project_data.geometry).getBounds(),
                    {padding: [30, 30], maxZoom: 18});
    } else if (cfg.parcel) {
      var pb = cfg.parcel.bbox;
      map.fitBounds(L.latLngBounds([pb[1], pb[0]], [pb[3], pb[2]]), {padding: [30, 30], maxZoom: 18});
    } else {
      map.fitBounds(countyBounds());
    }
    if (cfg.parcel) {
      var b = cfg.parcel.bbox;
      showHighlight({type: "Polygon", coordinates: [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]],
                                                     [b[0], b[3]], [b[0], b[1]]]]},
                    {kind: "parcel", parcel_no: cfg.parcel.parcel_no});
    }
    wanted.forEach(function (code) {
      var rec = bp.layers[code];
      if (rec && rec.tiles) {
        pending += 1;
        rec.tiles.once("load", function () { pending -= 1; checkReady(); });
        setVisible(code, true, true);
      }
    });
    buildTree();
    buildBasemaps();
    if (cfg.project_data) {
      selection = projectProps(cfg.project_data);
      showHighlight(cfg.project_data.geometry, selection);
    } else if (cfg.project) { loadProject(explicitView); }
    map.on("moveend", function () { if (bp.ready) { syncUrl(); } });
    map.on("click", mapClick);
    bindMeasure();
    bindBoundary();
    bindPrint();
    map.on("mousemove", function (e) { showCoords(e.latlng); });
    showCoords(map.getCenter());
    var form = document.getElementById("bp-search");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var text = document.getElementById("bp-search-input").value.trim();
        if (text) { bp.search(text); }
      });
    }
    // A layer whose tiles never load (a server error) must not hold the page back forever.
    window.setTimeout(function () { pending = 0; checkReady(); }, 8000);
    checkReady();
  }

  function boot() {
    var close = document.getElementById("bp-messages-close");
    close.addEventListener("click", function () { document.getElementById("bp-messages").hidden = true; });
    if (cfg.directory) { start(cfg.directory); return; }
    getJSON(cfg.urls.services).then(function (res) {
      if (!res.ok) { message(T.servicesError + " (" + detail(res) + ")"); start({layers: []}); return; }
      start(res.body);
    }).catch(function (e) { message(T.servicesError + " (" + e + ")"); start({layers: []}); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); }
  else { boot(); }
}());
