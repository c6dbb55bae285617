/* Ottava dashboard: reads the v2 API every 2 s with the caller's token (under Keystone) and
 * redraws. Every string that comes from the API reaches the page as text (el() appends text
 * nodes, attributes are set with setAttribute), never as HTML: names are chosen by users.
 * Failures are shown in the header, not logged: the page must stay quiet in the console. */
"use strict";

(() => {
  const POLL_MS = 2000;
  const HISTORY = 60; // samples kept per listener chart: two minutes at one per poll
  const EVENTS = 30;
  const TOKEN_KEY = "ottava.dashboard.token";
  const PAGE = new URL(".", document.baseURI); // …/dashboard/
  const ROOT = new URL("..", PAGE); // the API's root, whatever prefix a proxy added
  const KEYSTONE = document.body.dataset.authStrategy === "keystone";
  const COLORS = { a: "#2f5fb3", b: "#1f9a57", bad: "#c0392b" }; // as .swatch.* in style.css

  const TONES = {
    ACTIVE: "ok", ONLINE: "ok", DONE: "ok", ALLOCATED: "ok", READY: "ok",
    DEGRADED: "warn", DRAINING: "warn", PENDING_CREATE: "warn", PENDING_UPDATE: "warn",
    PENDING_DELETE: "warn", QUEUED: "warn", RUNNING: "warn", BOOTING: "warn",
    ERROR: "bad", OFFLINE: "bad", FAILED: "bad",
  };

  const KINDS = { loadbalancer: "load balancer", listener: "listener", pool: "pool",
    health_monitor: "monitor", member: "member" };

  const $ = (id) => document.getElementById(id);
  let token = KEYSTONE ? sessionStorage.getItem(TOKEN_KEY) || "" : "";
  let selected = currentSelection();
  let timer = null;
  let running = false;
  let pending = false; // a refresh was asked for while one was running
  // Bumped whenever the token changes: a refresh begun with another token renders nothing.
  let generation = 0;
  const traffic = new Map(); // listener id -> {last: {at, stats}, samples: [...]}

  class Unauthorized extends Error {}
  class Stale extends Error {}
  class HttpError extends Error {
    constructor(status, path) {
      super(`HTTP ${status} from ${path}`);
      this.status = status;
      this.path = path;
    }
  }

  // --- DOM helpers: text only -------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : String(child)); // a string becomes a text node
    }
    return node;
  }

  function badge(status, role) {
    return el("span", { class: "status", "data-tone": TONES[status] || "idle",
      "data-status": status || "", "data-role": role }, status || "—");
  }

  function short(id) {
    return el("span", { class: "mono", title: id || "" }, id ? id.slice(0, 8) : "—");
  }

  function setShown(id, shown) {
    $(id).hidden = !shown;
  }

  // --- the API ----------------------------------------------------------------------------

  async function call(path) {
    const headers = { Accept: "application/json" };
    if (token) headers["X-Auth-Token"] = token;
    const resp = await fetch(new URL(path, ROOT), { headers, cache: "no-store",
      credentials: "same-origin" });
    if (resp.status === 401) throw new Unauthorized();
    if (!resp.ok) throw new HttpError(resp.status, path);
    return resp.json();
  }

  // --- the poll loop ----------------------------------------------------------------------

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(tick, delay);
  }

  function refreshSoon() {
    if (running) pending = true;
    else schedule(0);
  }

  async function tick() {
    if (KEYSTONE && !token) {
      showLogin(null);
      return;
    }
    running = true;
    const mine = generation;
    const check = () => {
      if (mine !== generation) throw new Stale();
    };
    let next = POLL_MS;
    try {
      const [lbs, events] = await Promise.all([
        call("v2/lbaas/loadbalancers"), call(`dashboard/events?limit=${EVENTS}`)]);
      check();
      setShown("login", false);
      setShown("content", true);
      setShown("forget-token", KEYSTONE);
      renderScope(events.scope);
      renderLoadBalancers(lbs.loadbalancers);
      renderEvents(events.events);
      const lb = lbs.loadbalancers.find((item) => item.id === selected);
      await Promise.all([refreshDetail(lb, check), refreshAmphorae(events.scope.amphorae, check)]);
      setConnection("ok", `updated ${new Date().toLocaleTimeString()}`);
      // Counts whole refreshes, so a reader (or a test) can wait for one instead of sleeping.
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } catch (err) {
      if (mine !== generation) {
        next = 0; // the token changed meanwhile: start again with the new one
      } else if (err instanceof Unauthorized) {
        next = null;
        showLogin("The token was refused or has expired: paste a new one.");
      } else {
        setConnection("error", describe(err));
      }
    } finally {
      running = false;
    }
    if (next !== null) schedule(pending ? 0 : next);
    pending = false;
  }

  function describe(err) {
    if (err instanceof HttpError && err.status === 403) return `not allowed: ${err.path}`;
    if (err instanceof HttpError) return err.message;
    return "cannot reach the API";
  }

  function setConnection(state, text) {
    const node = $("connection");
    node.dataset.state = state;
    node.textContent = text;
  }

  // --- sign-in (Keystone only) ------------------------------------------------------------

  function showLogin(reason) {
    clearTimeout(timer);
    token = "";
    generation += 1;
    sessionStorage.removeItem(TOKEN_KEY);
    traffic.clear();
    // Nothing the previous token could see stays in the page.
    for (const id of ["lb-rows", "tree", "charts", "event-rows", "amp-rows"]) {
      $(id).replaceChildren();
    }
    setShown("detail", false);
    setShown("amphorae", false);
    setShown("content", false);
    setShown("forget-token", false);
    setShown("login", true);
    $("login-reason").textContent = reason || "";
    setShown("login-reason", Boolean(reason));
    $("scope").textContent = "";
    setConnection("idle", "signed out");
    $("token").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (!value) return;
    token = value;
    generation += 1;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    setShown("login", false);
    setConnection("idle", "loading…");
    refreshSoon();
  });

  $("forget-token").addEventListener("click", () => showLogin(null));

  // --- load balancers ---------------------------------------------------------------------

  function renderScope(scope) {
    $("scope").textContent = scope.project_id ? `project ${scope.project_id}` : "all projects";
  }

  function renderLoadBalancers(lbs) {
    const rows = lbs.map((lb) => {
      const row = el("tr", { "data-id": lb.id, tabindex: 0,
        "aria-selected": lb.id === selected ? "true" : "false" },
      el("td", { class: "name" }, lb.name || "(no name)"),
      el("td", {}, short(lb.id)),
      el("td", { class: "mono" }, lb.vip_address || "—"),
      el("td", {}, badge(lb.provisioning_status, "provisioning")),
      el("td", {}, badge(lb.operating_status, "operating")),
      el("td", {}, short(lb.project_id)));
      row.addEventListener("click", () => select(lb.id));
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter") select(lb.id);
      });
      return row;
    });
    $("lb-rows").replaceChildren(...rows);
    $("lb-count").textContent = `(${lbs.length})`;
    setShown("lb-empty", lbs.length === 0);
  }

  function currentSelection() {
    // A hand-typed hash may not be valid percent-encoding: then nothing is selected,
    // rather than the script stopping.
    try {
      return decodeURIComponent(location.hash.slice(1)) || null;
    } catch (err) {
      return null;
    }
  }

  function select(id) {
    location.hash = encodeURIComponent(id); // the hashchange handler refreshes
  }

  window.addEventListener("hashchange", () => {
    selected = currentSelection();
    traffic.clear();
    for (const row of $("lb-rows").children) {
      row.setAttribute("aria-selected", row.dataset.id === selected ? "true" : "false");
    }
    refreshSoon();
  });

  $("detail-close").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    selected = null;
    traffic.clear();
    setShown("detail", false);
    refreshSoon();
  });

  // --- one load balancer: status tree and traffic -----------------------------------------

  async function refreshDetail(lb, check) {
    if (!lb) {
      // Nothing selected, or no longer in the list (deleted, or not this token's to see).
      setShown("detail", false);
      return;
    }
    const id = encodeURIComponent(lb.id);
    const [status, listeners] = await Promise.all([
      call(`v2/lbaas/loadbalancers/${id}/status`),
      call(`v2/lbaas/listeners?loadbalancer_id=${id}`)]);
    const tree = status.statuses.loadbalancer;
    const stats = await Promise.all(tree.listeners.map(
      (listener) => call(`v2/lbaas/listeners/${encodeURIComponent(listener.id)}/stats`)));
    check();
    const at = performance.now();
    tree.listeners.forEach((listener, i) => record(listener.id, stats[i].stats, at));
    for (const id of traffic.keys()) {
      if (!tree.listeners.some((listener) => listener.id === id)) traffic.delete(id);
    }
    $("detail-name").textContent = lb.name || lb.id;
    $("tree").replaceChildren(treeNode("loadbalancer", tree,
      tree.listeners.map((listener) => listenerNode(listener))));
    renderCharts(tree.listeners, new Map(listeners.listeners.map((l) => [l.id, l])));
    setShown("detail", true);
  }

  function treeNode(kind, obj, children, extra) {
    return el("li", { "data-kind": kind, "data-id": obj.id },
      el("div", { class: "node" },
        el("span", { class: "kind" }, KINDS[kind]),
        el("span", { class: "name" }, obj.name || obj.id.slice(0, 8)),
        extra ? el("span", { class: "extra mono" }, extra) : null,
        badge(obj.provisioning_status, "provisioning"),
        badge(obj.operating_status, "operating")),
      children && children.length ? el("ul", {}, ...children) : null);
  }

  function listenerNode(listener) {
    return treeNode("listener", listener, listener.pools.map((pool) => {
      const children = [];
      if (pool.health_monitor) {
        children.push(treeNode("health_monitor", pool.health_monitor, null,
          pool.health_monitor.type));
      }
      for (const member of pool.members) {
        children.push(treeNode("member", member, null,
          `${member.address}:${member.protocol_port}`));
      }
      return treeNode("pool", pool, children);
    }));
  }

  function record(listenerId, stats, at) {
    let entry = traffic.get(listenerId);
    if (!entry) {
      entry = { last: null, samples: [] };
      traffic.set(listenerId, entry);
    }
    if (entry.last) {
      const seconds = (at - entry.last.at) / 1000;
      if (seconds < 0.25) return; // two reads too close together say nothing about a rate
      // A counter that went down (a new amphora after a failover) starts again from zero.
      const rate = (key) => Math.max(0, stats[key] - entry.last.stats[key]) / seconds;
      entry.samples.push({
        connections: rate("total_connections"), bytesIn: rate("bytes_in"),
        bytesOut: rate("bytes_out"), errors: rate("request_errors"),
        active: stats.active_connections,
      });
      if (entry.samples.length > HISTORY) entry.samples.shift();
    }
    entry.last = { at, stats };
  }

  function renderCharts(listeners, details) {
    const box = $("charts");
    const cards = new Map([...box.children].map((card) => [card.dataset.id, card]));
    const wanted = listeners.map((listener) => {
      const card = cards.get(listener.id) || chartCard(listener.id);
      const info = details.get(listener.id);
      const where = info ? ` ${info.protocol}:${info.protocol_port}` : "";
      card.querySelector("h4").textContent = `${listener.name || listener.id.slice(0, 8)}${where}`;
      drawCard(card, traffic.get(listener.id));
      return card;
    });
    box.replaceChildren(...wanted); // the same canvases move; new ones are added
    setShown("charts-empty", listeners.length === 0);
  }

  function chartCard(id) {
    const chart = (key, title) => el("div", { class: "chart", "data-chart": key },
      el("div", { class: "label" }, el("span", {}, title), el("span", { class: "now" }, "…")),
      el("canvas", { width: 300, height: 90 }));
    return el("div", { class: "chart-card", "data-id": id }, el("h4", {}),
      el("div", { class: "charts-row" },
        chart("connections", "Connections/s"),
        chart("bytes", el("span", {}, "Bytes/s ", el("i", { class: "swatch a" }), "in ",
          el("i", { class: "swatch b" }), "out")),
        chart("errors", "Errors/s")));
  }

  function drawCard(card, entry) {
    const samples = entry ? entry.samples : [];
    const last = samples[samples.length - 1];
    const part = (key) => card.querySelector(`[data-chart="${key}"]`);
    const now = (key, text) => { part(key).querySelector(".now").textContent = text; };
    now("connections", last ? `${rate(last.connections)}/s · ${last.active} open` : "…");
    now("bytes", last ? `${bytes(last.bytesIn)}/s · ${bytes(last.bytesOut)}/s` : "…");
    now("errors", last ? `${rate(last.errors)}/s` : "…");
    draw(part("connections").querySelector("canvas"),
      [{ values: samples.map((s) => s.connections), color: COLORS.a }], rate);
    draw(part("bytes").querySelector("canvas"), [
      { values: samples.map((s) => s.bytesIn), color: COLORS.a },
      { values: samples.map((s) => s.bytesOut), color: COLORS.b }], bytes);
    draw(part("errors").querySelector("canvas"),
      [{ values: samples.map((s) => s.errors), color: COLORS.bad }], rate);
  }

  // A line chart of the last HISTORY samples, newest at the right, scaled to a round maximum.
  function draw(canvas, series, format) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 300;
    const height = canvas.clientHeight || 90;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const top = roundUp(Math.max(0, ...series.flatMap((s) => s.values)));
    const pad = { left: 4, right: 4, top: 14, bottom: 4 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#5d6878";
    ctx.strokeStyle = "#e3e6eb";
    ctx.lineWidth = 1;
    for (const fraction of [0, 0.5, 1]) {
      const y = Math.round(pad.top + plotH * (1 - fraction)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(width - pad.right, y);
      ctx.stroke();
    }
    ctx.fillText(format(top), pad.left + 2, pad.top - 3);
    const step = plotW / (HISTORY - 1);
    for (const { values, color } of series) {
      if (values.length === 0) continue;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      values.forEach((value, i) => {
        const x = pad.left + plotW - (values.length - 1 - i) * step;
        const y = pad.top + plotH * (1 - value / top);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
  }

  function roundUp(value) {
    if (value <= 1) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const factor of [1, 2, 5, 10]) {
      if (value <= factor * magnitude) return factor * magnitude;
    }
    return 10 * magnitude;
  }

  function rate(value) {
    if (Number.isInteger(value) && value < 1e3) return String(value);
    if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
    return value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1);
  }

  function bytes(value) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value >= 10 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
  }

  // --- events and amphorae ----------------------------------------------------------------

  function renderEvents(events) {
    $("event-rows").replaceChildren(...events.map((event) => {
      const when = event.updated_at || event.created_at;
      return el("tr", { "data-id": event.id, "data-kind": event.kind },
        el("td", { title: when }, when ? moment(new Date(when)) : "—"),
        el("td", { class: "mono" }, event.kind),
        el("td", {}, badge(event.state, "state")),
        el("td", {}, event.loadbalancer_name || (event.loadbalancer_id
          ? short(event.loadbalancer_id) : "—")),
        el("td", {}, short(event.target_id)),
        el("td", { class: "error" }, event.error || ""));
    }));
    setShown("events-empty", events.length === 0);
  }

  function moment(date) {
    const time = date.toLocaleTimeString();
    return date.toDateString() === new Date().toDateString()
      ? time : `${date.toLocaleDateString()} ${time}`;
  }

  async function refreshAmphorae(allowed, check) {
    if (!allowed) {
      setShown("amphorae", false); // an administrator's view: not this token's
      return;
    }
    let body;
    try {
      body = await call("v2/octavia/amphorae");
    } catch (err) {
      if (err instanceof HttpError && err.status === 403) {
        setShown("amphorae", false);
        return;
      }
      throw err;
    }
    check();
    const amphorae = body.amphorae.filter((amp) => amp.status !== "DELETED");
    $("amp-rows").replaceChildren(...amphorae.map((amp) => el("tr", { "data-id": amp.id },
      el("td", {}, short(amp.id)),
      el("td", {}, short(amp.loadbalancer_id)),
      el("td", {}, amp.role || "—"),
      el("td", {}, badge(amp.status, "status")),
      el("td", { class: "mono" }, amp.lb_network_ip || "—"),
      el("td", { class: "mono" }, amp.compute_id || "—"))));
    $("amp-count").textContent = `(${amphorae.length})`;
    setShown("amp-empty", amphorae.length === 0);
    setShown("amphorae", true);
  }

  schedule(0);
})();
