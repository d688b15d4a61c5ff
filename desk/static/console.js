/* Agent console. Shopper and bot text is untrusted: only textContent, never innerHTML. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var me = null, current = null, currentConv = null, serverSkew = 0, queue = [], checkTimer = null, lastCheck = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function api(method, path, body) {
    var opt = { method: method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    return fetch(path, opt).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { j._status = r.status; return j; });
    });
  }
  // the words for codes (status, reason, priority, order status, events) come from desk/labels.yml
  var LABELS = { status: {}, reason: {}, priority: {}, order_status: {}, event: {}, sender: {}, ui: {}, presence: {} };
  function lab(kind, code) { return (LABELS[kind] || {})[code] || code || ""; }
  var LABEL = LABELS.status, REASON = LABELS.reason;
  // an alert belongs to the moment it was raised: the next send, action or switch clears it
  function alertMsg(text) { $("alert").textContent = text || ""; }
  var WARNING_CHARS = 120;  // a 预警 card's long texts are shortened in the sidebar (full in the conversation)
  // ---- no missed shopper: unread counts, a flashing title, desktop notifications -------------
  var unread = {}, baseTitle = document.title, flashOn = false;
  function unreadTotal() { return Object.keys(unread).reduce(function (a, k) { return a + unread[k]; }, 0); }
  setInterval(function () {
    var n = unreadTotal();
    flashOn = n > 0 && !flashOn;
    document.title = flashOn ? lab("ui", "unread_title").replace("{n}", n) : baseTitle;
  }, 1000);
  function notify(title, body, id) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification(title, { body: shorten(body, 80), tag: id || "" });
      n.onclick = function () { window.focus(); if (id) openConv(id); };
    } catch (e) {}
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && current && unread[current]) {
      delete unread[current]; renderQueue();
      // back to the tab with the conversation open: what the shopper wrote meanwhile is read now
      if (window.__consoleSocket && window.__consoleSocket.readyState === 1)
        window.__consoleSocket.send(JSON.stringify({ type: "read", conversation_id: current }));
    }
  });
  function askNotifications() {
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
  }
  function shorten(t, n) { t = String(t || ""); return t.length > n ? t.slice(0, n) + "…" : t; }

  function fmtDur(s) {
    var neg = s < 0; s = Math.abs(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return (neg ? "-" : "") + (h ? h + "小时" : "") + m + "分" + (h ? "" : sec + "秒");
  }
  function now() { return Date.now() + serverSkew; }

  // ---- words from labels.yml (ui:) on the page, supervisor-only parts ------------------------
  function ui(k, n) { return lab("ui", k).replace("{n}", n); }
  function applyWords() {
    document.querySelectorAll("[data-word]").forEach(function (e) {
      e.textContent = lab("ui", e.getAttribute("data-word"));
      if (e.parentNode && e.parentNode.id === "tabs") e.setAttribute("data-label", e.textContent);
    });
    document.querySelectorAll("[data-ph]").forEach(function (e) { e.placeholder = lab("ui", e.getAttribute("data-ph")); });
    var st = $("search-status"); st.textContent = "";
    var any = el("option", "", ui("search_any_status")); any.value = ""; st.appendChild(any);
    Object.keys(LABELS.status).forEach(function (k) { var o = el("option", "", LABELS.status[k]); o.value = k; st.appendChild(o); });
    var sup = me && me.role === "supervisor";
    document.querySelectorAll(".sup-only").forEach(function (e) { e.classList.toggle("hidden", !sup); });
    $("reports-link").classList.toggle("hidden", !sup);
    renderSound();
  }

  // ---- a sound on new handoffs and shopper messages (Web Audio; muted state in localStorage) --
  var SOUND_KEY = "xiaoer.console.sound", soundOn = localStorage.getItem(SOUND_KEY) !== "off", audio = null;
  window.__beeps = 0;  // how many beeps were played (the browser test reads it)
  function beep() {
    if (!soundOn) return;
    window.__beeps++;
    try {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      audio = audio || new AC();
      var o = audio.createOscillator(), g = audio.createGain(), t = audio.currentTime;
      o.type = "sine"; o.frequency.setValueAtTime(880, t); o.frequency.setValueAtTime(660, t + 0.12);
      g.gain.setValueAtTime(0.2, t); g.gain.exponentialRampToValueAtTime(0.001, t + 0.3);
      o.connect(g); g.connect(audio.destination); o.start(t); o.stop(t + 0.3);
    } catch (e) {}
  }
  function renderSound() {
    $("sound").textContent = ui(soundOn ? "sound_on" : "sound_off");
    $("sound").setAttribute("aria-pressed", soundOn ? "true" : "false");
  }
  $("sound").addEventListener("click", function () {
    soundOn = !soundOn;
    localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
    if (soundOn && audio && audio.state === "suspended") audio.resume();
    renderSound();
  });

  // ---- login ---------------------------------------------------------------------------
  function showLogin() { $("login").classList.remove("hidden"); $("app").classList.add("hidden"); }
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    askNotifications();  // asked on a click: browsers ignore the request otherwise
    api("POST", "/api/login", { name: $("login-name").value, password: $("login-password").value }).then(function (r) {
      if (r._status === 200) start(); else $("login-error").textContent = "账号或密码不正确";
    });
  });
  $("logout").addEventListener("click", function () { api("POST", "/api/logout").then(showLogin); });

  function start() {
    api("GET", "/api/me").then(function (r) {
      if (r._status !== 200) return showLogin();
      me = r;
      $("login").classList.add("hidden"); $("app").classList.remove("hidden");
      $("me").textContent = me.name + " · 工号 " + me.number + (me.role === "supervisor" ? " · 主管" : "");
      api("GET", "/api/labels").then(function (l) {
        if (l._status === 200) Object.keys(LABELS).forEach(function (k) { Object.assign(LABELS[k], l[k] || {}); });
        applyWords();
        loadQueue(); loadQuick(); loadAgents(); openSocket();
      });
    });
  }

  // ---- live updates --------------------------------------------------------------------
  var socketsOpened = 0;
  function openSocket() {
    var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/console");
    ws.onmessage = function (ev) {
      var d; try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d.type === "queue" || d.type === "warning") loadQueue();
      if (d.type === "queue" && d.status === "queued") { notify(lab("ui", "notify_handoff"), "", d.conversation_id); beep(); }
      if (d.type === "taken_over" && me && d.agent === me.name) {
        alertMsg(lab("ui", "taken_over").replace("{by}", d.by));
        if (d.conversation_id === current) openConv(current);
      }
      if (d.type === "warning" && d.problem) alertMsg("新的投诉预警:" + shorten(d.problem, WARNING_CHARS));
      if (d.type === "alert") alertMsg(d.text);
      if (d.type === "message") {
        if (d.conversation_id === current) addMessage(d.message);
        // the agent has this conversation in front of them: the shopper sees 已读 (desk/widget.py)
        if (d.conversation_id === current && d.message.sender === "shopper" && !document.hidden)
          ws.send(JSON.stringify({ type: "read", conversation_id: current }));
        if (d.message.sender === "shopper" && (d.conversation_id !== current || document.hidden)) {
          unread[d.conversation_id] = (unread[d.conversation_id] || 0) + 1;
          notify(lab("ui", "notify_message"), d.message.text, d.conversation_id);
          // a beep for the conversations people handle (not every chat the bot is having)
          if (queue.some(function (q) { return q.id === d.conversation_id; })) beep();
        }
        loadQueue();
        if (tab === "live") loadSpecial("live");
      }
    };
    // after a reconnect (the desk restarted) show the status the desk has now
    var n = ++socketsOpened;
    ws.onopen = function () { if (n > 1) loadAgents(); };
    ws.onclose = function () { setTimeout(openSocket, 2000); };
    window.__consoleSocket = ws;
  }

  // ---- search: buyer, order number, text, status, date range ------------------------------------
  $("search").addEventListener("submit", function (e) {
    e.preventDefault();
    var p = new URLSearchParams();
    [["q", "search-q"], ["order", "search-order"], ["buyer", "search-buyer"], ["status", "search-status"],
     ["from", "search-from"], ["to", "search-to"]].forEach(function (x) { var v = $(x[1]).value.trim(); if (v) p.set(x[0], v); });
    if (!p.toString()) return clearSearch();
    api("GET", "/api/search?" + p.toString()).then(function (r) {
      $("results").classList.remove("hidden"); $("queue-box").classList.add("hidden");
      var ul = $("results-list"); ul.textContent = "";
      if (r._status !== 200) { $("results-head").textContent = ui("search_none"); return; }
      $("results-head").textContent = r.results.length ? ui("search_results", r.results.length) : ui("search_none");
      r.results.forEach(function (x) {
        var li = specialItem(x, "search");
        if (x.matches > 1) li.appendChild(el("div", "small", ui("search_matches", x.matches)));
        ul.appendChild(li);
      });
    });
  });
  function clearSearch() {
    ["search-q", "search-order", "search-buyer", "search-status", "search-from", "search-to"].forEach(function (i) { $(i).value = ""; });
    $("results").classList.add("hidden"); $("queue-box").classList.remove("hidden");
  }
  $("search-clear").addEventListener("click", clearSearch);

  // ---- queue ---------------------------------------------------------------------------
  function loadQueue() {
    api("GET", "/api/queue").then(function (r) {
      if (r._status === 401) return showLogin();
      serverSkew = new Date(r.now).getTime() - Date.now();
      queue = r.queue || [];
      renderQueue();
      if (r.warnings) renderWarnings(r.warnings);
    });
  }
  // tabs: all / mine (assigned to me) / waiting (nobody has it yet), each with its count
  var tab = "all";
  function inTab(q, t) {
    if (t === "mine") return q.status === "assigned" && me && q.agent === me.name;
    if (t === "waiting") return q.status === "queued" || q.status === "waiting_offline";
    return true;
  }
  document.querySelectorAll("#tabs button").forEach(function (b) {
    b.setAttribute("data-label", b.textContent);
    b.addEventListener("click", function () {
      tab = b.getAttribute("data-tab");
      if (SPECIAL[tab]) loadSpecial(tab); else renderQueue();
    });
  });
  // the resolved list (everyone) and the live conversations, the bot's too (supervisors, to watch)
  var SPECIAL = { resolved: "/api/resolved", live: "/api/live" }, special = { resolved: null, live: null }, liveTimer = null;
  function loadSpecial(t) {
    if (t === "live") { if (liveTimer) return; liveTimer = setTimeout(function () { liveTimer = null; }, 1000); }
    api("GET", SPECIAL[t]).then(function (r) { if (r._status === 200) { special[t] = r.results; renderQueue(); } });
  }
  function specialItem(x, t) {
    var li = el("li", x.id === current ? "active" : "");
    li.setAttribute("data-id", x.id);
    li.appendChild(el("div", "", x.buyer_id + " · " + lab("status", x.status) + (x.reason ? " · " + lab("reason", x.reason) : "") +
      (x.category ? " · " + x.category : "") + (x.agent ? " · " + x.agent : "")));
    if (t === "resolved") li.appendChild(el("div", "small", new Date(x.resolved_at).toLocaleString() + " " +
      ui("case_resolved_by").replace("{agent}", x.resolved_by || "") + (x.rating ? " · " + ui("case_rating", x.rating) : "")));
    if (x.summary) li.appendChild(el("div", "small", x.summary));
    if (x.match) li.appendChild(el("div", "small match", lab("sender", x.match.sender) + ":" + x.match.text));
    li.addEventListener("click", function () { openConv(x.id); });
    return li;
  }
  function renderQueue() {
    var ul = $("queue"); ul.textContent = "";
    document.querySelectorAll("#tabs button").forEach(function (b) {
      var t = b.getAttribute("data-tab");
      var n = SPECIAL[t] ? (special[t] ? special[t].length : "") : queue.filter(function (q) { return inTab(q, t); }).length;
      b.textContent = (b.getAttribute("data-label") || "") + " " + n;
      b.classList.toggle("on", t === tab);
    });
    if (SPECIAL[tab]) {
      (special[tab] || []).forEach(function (x) { ul.appendChild(specialItem(x, tab)); });
      if (special[tab] && !special[tab].length) ul.appendChild(el("li", "small", tab === "live" ? ui("live_none") : ui("search_none")));
      return;
    }
    queue.filter(function (q) { return inTab(q, tab); }).forEach(function (q) {
      var li = el("li", (q.priority === "high" ? "high " : "") + (q.overdue ? "overdue " : "") + (q.id === current ? "active" : ""));
      li.setAttribute("data-id", q.id);
      if (unread[q.id]) li.appendChild(el("span", "unread", unread[q.id]));
      li.appendChild(el("div", "", (REASON[q.reason] || q.reason || "") + (q.category ? " · " + q.category : "") +
        " · " + (LABEL[q.status] || q.status) + " · " + lab("priority", q.priority) +
        (q.agent ? " · " + q.agent : "") + (q.for_supervisor ? " · 待主管" : "")));
      if (q.followups) li.appendChild(el("div", "small followups", lab("ui", "followups").replace("{n}", q.followups)));
      li.appendChild(el("div", "small", q.summary || ""));
      var t = el("div", "small countdown");
      t.setAttribute("data-queued", String(now() - q.waited_seconds * 1000));
      if (q.deadline_at) t.setAttribute("data-deadline", q.deadline_at);
      if (q.on_duty === false) t.setAttribute("data-paused", "1");
      li.appendChild(t);
      li.addEventListener("click", function () { openConv(q.id); });
      ul.appendChild(li);
    });
    tick();
  }
  function tick() {
    $("clock").textContent = new Date(now()).toLocaleTimeString();
    document.querySelectorAll(".countdown").forEach(function (t) {
      var waited = (now() - Number(t.getAttribute("data-queued"))) / 1000;
      var dl = t.getAttribute("data-deadline");
      var txt = "已等待 " + fmtDur(waited);
      if (dl && t.getAttribute("data-paused")) {
        // deadlines count agent hours: off duty the countdown stands still
        txt += " · " + lab("ui", "deadline_paused") + " " + new Date(dl).toLocaleString();
      } else if (dl) {
        var left = (new Date(dl).getTime() - now()) / 1000;
        txt += left >= 0 ? " · 剩余 " + fmtDur(left) : " · 已超时 " + fmtDur(-left);
      }
      t.textContent = txt;
    });
  }
  setInterval(tick, 1000);

  function renderWarnings(ws) {
    $("warnings-box").classList.remove("hidden");
    var ul = $("warnings"); ul.textContent = "";
    ws.forEach(function (w) {
      var li = el("li", w.overdue ? "overdue" : "");
      li.appendChild(el("div", "", "问题:" + shorten(w.problem, WARNING_CHARS)));
      li.appendChild(el("div", "small", "处理情况:" + shorten(w.handling, WARNING_CHARS)));
      li.appendChild(el("div", "small", "不满意点:" + shorten(w.unhappy, WARNING_CHARS)));
      li.title = w.problem + "\n" + w.handling + "\n" + w.unhappy;
      li.appendChild(el("div", "small", "当前环节:" + w.step_label + (w.overdue ? "(已超时)" : "") +
        " · 截止 " + new Date(w.step_due_at).toLocaleString()));
      var b = el("button", "", "本环节完成"); b.addEventListener("click", function (e) {
        e.stopPropagation(); api("POST", "/api/warnings/" + w.id + "/advance", {}).then(loadQueue);
      });
      li.appendChild(b);
      li.addEventListener("click", function () { openConv(w.conversation_id); });
      ul.appendChild(li);
    });
  }

  // ---- one conversation ------------------------------------------------------------------
  function openConv(id) {
    if (id !== current) { alertMsg(""); $("resolve-confirm").classList.add("hidden"); }
    delete unread[id];
    current = id;
    renderQueue();
    api("GET", "/api/conversations/" + id).then(function (r) {
      if (r._status !== 200) return;
      currentConv = r.conversation;
      $("conv").classList.remove("hidden");
      var c = r.conversation, head = $("conv-head");
      head.textContent = "";
      // only the parts a conversation has (one taken over from the bot has no reason or priority)
      head.appendChild(el("div", "", ["买家 " + c.buyer_id, LABEL[c.status] || c.status, c.reason ? (REASON[c.reason] || c.reason) : "",
        c.category || "", c.priority ? "优先级 " + lab("priority", c.priority) : "",
        c.contact ? "联系方式 " + c.contact : ""].filter(Boolean).join(" · ")));
      if (c.deadline_at) {
        var t = el("div", "small countdown"); t.setAttribute("data-deadline", c.deadline_at);
        // the same start as the queue item's (server's waited time), so list and header agree
        var item = queue.filter(function (q) { return q.id === c.id; })[0];
        t.setAttribute("data-queued", String(item ? now() - item.waited_seconds * 1000 : new Date(c.queued_at).getTime()));
        head.appendChild(t);
      }
      var mine = c.status === "assigned" && me && c.assigned_to === me.id;
      $("claim").disabled = !(c.status === "queued" || c.status === "waiting_offline");
      // a supervisor may take over any live conversation, the bot's included
      var takeable = ["bot", "queued", "waiting_offline", "assigned"].indexOf(c.status) >= 0 && !mine;
      $("takeover").classList.toggle("hidden", !(me && me.role === "supervisor" && takeable));
      loadCases(c.id);
      ["resolve", "handback", "transfer", "send"].forEach(function (b) { $(b).disabled = !mine; });
      var tr = $("transcript"); tr.textContent = "";
      r.messages.forEach(addMessage);
      renderBuyer(r.buyer, r.orders, r.discussed_order_id);
      renderUnderstood(r.understood);
      var ev = $("events"); ev.textContent = "";
      (r.events || []).forEach(function (e) { ev.appendChild(el("div", "small", new Date(e.created_at).toLocaleString() + " " + lab("event", e.name) + (e.actor ? " (" + e.actor + ")" : ""))); });
      (r.ratings || []).forEach(function (x) { ev.appendChild(el("div", "", "评价:" + x.score + "分 " + (x.comment || ""))); });
      tick();
    });
  }
  function addMessage(m) {
    var tr = $("transcript");
    if (m.id && tr.querySelector('[data-mid="' + m.id + '"]')) return;
    var d = el("div", "m " + m.sender);
    d.setAttribute("data-mid", String(m.id));
    var who = lab("sender", m.sender);
    d.appendChild(el("div", "who", who + " · " + new Date(m.at).toLocaleTimeString()));
    var data = m.data || {};
    if (data.custom && data.custom.handoff) {
      var h = data.custom.handoff;
      d.appendChild(el("div", "", "转人工:" + (REASON[h.reason] || h.reason) + (h.category ? " · " + h.category : "") +
        " · " + lab("priority", h.priority) + " · 时限 " + (h.deadline_hours || "?") + " 小时 · " + (h.summary || "")));
    } else if (m.text) d.appendChild(el("div", "text", m.text));
    (data.photos || []).forEach(function (p) { var i = el("img"); i.src = p.url; i.alt = "买家照片"; d.appendChild(i); });
    if (data.buttons) d.appendChild(el("div", "small", "按钮:" + data.buttons.map(function (b) { return b.title; }).join(" / ")));
    tr.appendChild(d);
    tr.scrollTop = tr.scrollHeight;
  }
  function renderBuyer(b, orders, discussed) {
    var box = $("buyer"); box.textContent = "";
    if (!b) { box.appendChild(el("div", "small", "(无买家资料)")); return; }
    box.appendChild(el("div", "", (b.name || "") + " " + (b.phone || "") + " (" + b.buyer_id + ")"));
    (orders || []).forEach(function (o) {
      var d = el("div", "order" + (o.order_id === discussed ? " discussed" : ""));
      if (o.order_id === discussed) d.appendChild(el("div", "small", lab("ui", "discussed_order")));
      d.appendChild(el("div", "", o.order_id + " · " + lab("order_status", o.status) + " · ¥" + o.total + " · " +
        (o.items || []).map(function (i) { return i.name + " " + i.spec + "×" + i.qty; }).join(",") +
        (o.ship_to ? " · " + o.ship_to.text : "")));
      box.appendChild(d);
    });
  }
  // the buyer's earlier cases (all their conversations): when, why, who resolved, the rating
  function loadCases(id) {
    api("GET", "/api/conversations/" + id + "/cases").then(function (r) {
      if (id !== current) return;
      var ul = $("cases"); ul.textContent = "";
      var cases = (r.cases || []);
      if (!cases.filter(function (k) { return !k.open; }).length) ul.appendChild(el("li", "small", ui("cases_none")));
      cases.forEach(function (k) {
        var li = el("li", k.open ? "open" : "");
        li.appendChild(el("div", "", new Date(k.started_at).toLocaleDateString() + " · " + lab("reason", k.reason) +
          (k.category ? " · " + k.category : "") + " · " + (k.open ? ui("case_open") :
          ui("case_resolved_by").replace("{agent}", k.resolved_by || "")) + (k.rating ? " · " + ui("case_rating", k.rating) : "")));
        if (k.summary) li.appendChild(el("div", "small", k.summary));
        ul.appendChild(li);
      });
    });
  }
  function renderUnderstood(u) {
    var box = $("understood"); box.textContent = "";
    if (!u) { box.appendChild(el("div", "small", "(机器人记录不可用)")); return; }
    u.forEach(function (x) {
      box.appendChild(el("div", "small", "「" + (x.text || "") + "」→ " + (x.intent || "?") + " " + x.confidence +
        (x.entities.length ? " · " + x.entities.map(function (e) { return e.entity + "=" + e.value; }).join(", ") : "")));
    });
  }

  // ---- actions ---------------------------------------------------------------------------
  function act(path, body) {
    return api("POST", "/api/conversations/" + current + "/" + path, body).then(function (r) {
      alertMsg(r._status >= 400 && r._status !== 422 ? "操作失败:" + (r.error || r._status) : "");
      openConv(current); loadQueue(); return r;
    });
  }
  $("claim").addEventListener("click", function () { act("claim"); });
  $("takeover").addEventListener("click", function () { act("takeover"); });
  // 解决 closes the human part and asks the shopper for a rating: confirmed first
  $("resolve").addEventListener("click", function () { $("resolve-confirm").classList.remove("hidden"); });
  $("resolve-yes").addEventListener("click", function () { $("resolve-confirm").classList.add("hidden"); act("resolve"); });
  $("resolve-no").addEventListener("click", function () { $("resolve-confirm").classList.add("hidden"); });
  $("handback").addEventListener("click", function () { act("handback"); });
  $("transfer").addEventListener("click", function () { act("transfer", { to: $("transfer-to").value }); });
  $("add-note").addEventListener("click", function () {
    var t = $("note").value.trim(); if (!t) return;
    act("note", { text: t }).then(function () { $("note").value = ""; });
  });

  function showGuard(g) {
    var box = $("guard"); box.textContent = "";
    lastCheck = g;
    if (!g || !g.findings) return;
    g.findings.forEach(function (f) {
      var d = el("div", "f " + f.severity, "[" + f.severity + "] " + f.rule_id + " 「" + f.text + "」 " + (f.message || ""));
      if (f.suggestion) d.appendChild(el("div", "small", "建议:" + f.suggestion));
      box.appendChild(d);
    });
    if (g.blocked && g.safe_text) {
      var use = el("button", "", "改用建议话术");
      use.addEventListener("click", function () { $("draft").value = g.safe_text; check(); });
      box.appendChild(use);
    }
  }
  function check() {
    var t = $("draft").value.trim();
    if (!t) { showGuard(null); return; }
    api("POST", "/api/guard/check", { text: t }).then(function (r) { if (r._status === 200) showGuard(r); });
  }
  $("draft").addEventListener("input", function () {
    clearTimeout(checkTimer); checkTimer = setTimeout(check, 350);
    if (window.__consoleSocket && window.__consoleSocket.readyState === 1 && current)
      window.__consoleSocket.send(JSON.stringify({ type: "typing", conversation_id: current, on: true }));
  });
  function send() {
    var t = $("draft").value.trim(); if (!t || $("send").disabled) return;
    api("POST", "/api/conversations/" + current + "/reply", { text: t }).then(function (r) {
      if (r.sent) { $("draft").value = ""; showGuard(null); addMessage(r.message); alertMsg(""); }
      else if (r.guard) { showGuard(r.guard); alertMsg("草稿含违规内容,已拦截,请修改后再发送"); }
      else alertMsg("发送失败:" + (r.error || r._status));
    });
  }
  $("send").addEventListener("click", send);
  // Enter sends, Shift+Enter is a new line (not while an input method is composing)
  $("draft").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });

  // searchable quick replies: the filter box keeps the replies (and groups) containing its words
  function filterQuick() {
    var words = $("quick-filter").value.trim().split(/\s+/).filter(Boolean), shown = 0;
    var box = $("quick"), head = null, headShown = false;
    Array.prototype.forEach.call(box.children, function (e) {
      if (e.classList.contains("group")) { if (head) head.classList.toggle("hidden", !headShown); head = e; headShown = false; return; }
      if (!e.classList.contains("quick-reply")) return;
      var ok = words.every(function (w) { return e.textContent.indexOf(w) >= 0; });
      e.classList.toggle("hidden", !ok);
      if (ok) { shown++; headShown = true; }
    });
    if (head) head.classList.toggle("hidden", !headShown);
    $("quick-none") && $("quick-none").classList.toggle("hidden", shown > 0);
  }
  $("quick-filter").addEventListener("input", filterQuick);
  function loadQuick() {
    api("GET", "/api/quick_replies").then(function (r) {
      var box = $("quick"); box.textContent = "";
      (r.groups || []).forEach(function (g) {
        box.appendChild(el("div", "small group", g.name));
        g.replies.forEach(function (t) {
          var b = el("button", "quick-reply", t);
          b.addEventListener("click", function () { $("draft").value = t; check(); $("draft").focus(); });
          box.appendChild(b);
        });
      });
      var none = el("div", "small hidden", ui("quick_none")); none.id = "quick-none"; box.appendChild(none);
      filterQuick();
    });
  }
  // presence: 在线 gets waiting conversations assigned (within the cap), 离开/离线 none
  function renderPresence(status) {
    var s = $("presence");
    if (!s.options.length) ["online", "away", "offline"].forEach(function (k) {
      var o = el("option", "", lab("presence", k)); o.value = k; s.appendChild(o);
    });
    s.value = status || "offline";
    s.className = "presence " + s.value;
  }
  $("presence").addEventListener("change", function () {
    var v = $("presence").value;
    api("POST", "/api/presence", { status: v }).then(function () { renderPresence(v); loadQueue(); });
  });
  function loadAgents() {
    api("GET", "/api/agents").then(function (r) {
      (Array.isArray(r) ? r : []).forEach(function (a) { if (me && a.name === me.name) renderPresence(a.presence); });
      var s = $("transfer-to"); s.textContent = "";
      var sup = el("option", "", "主管(回到队列,仅主管可认领)"); sup.value = "supervisor"; s.appendChild(sup);
      (Array.isArray(r) ? r : []).forEach(function (a) {
        if (me && a.name === me.name) return;
        var o = el("option", "", a.name + " · 工号 " + a.number + (a.role === "supervisor" ? " · 主管" : "")); o.value = a.name; s.appendChild(o);
      });
    });
  }
  start();
})();
