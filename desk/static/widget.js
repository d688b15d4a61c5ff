/* 店小二 chat widget: one <script src=".../widget.js" data-token="..."> tag.
   Everything the shopper, the bot or an agent wrote is rendered with textContent. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__xiaoerWidget) return;
  window.__xiaoerWidget = true;
  var token = script.getAttribute("data-token") || "";
  var base = new URL(script.src, location.href);
  var origin = base.origin;
  var MAX_CHARS = 1000, MAX_PHOTOS = 3, MAX_PHOTO_BYTES = 3000000;

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = origin + "/widget.css";
  document.head.appendChild(css);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  var root = el("div", "xw-root");
  root.id = "xiaoer-widget";
  var launcher = el("button", "xw-launcher", "咨询客服");
  launcher.type = "button";
  launcher.id = "xw-launcher";
  // messages from the shop while the panel is closed: a count on the launcher
  var unreadBadge = el("span", "xw-unread xw-hidden");
  unreadBadge.id = "xw-unread";
  launcher.appendChild(unreadBadge);
  var unread = 0;
  function setUnread(n) { unread = n; unreadBadge.textContent = String(n); unreadBadge.classList.toggle("xw-hidden", !n); }
  var panel = el("div", "xw-panel xw-hidden");
  var header = el("div", "xw-header");
  var title = el("span", "xw-title", "在线客服");
  var badge = el("span", "xw-badge xw-hidden", "人工客服");
  badge.id = "xw-human";
  var close = el("button", "xw-close", "×");
  close.type = "button";
  header.append(title, badge, close);
  var list = el("div", "xw-list");
  list.id = "xw-list";
  list.setAttribute("aria-live", "polite");
  var typing = el("div", "xw-typing xw-hidden", "对方正在输入…");
  typing.id = "xw-typing";
  var rating = el("div", "xw-rating xw-hidden");
  rating.id = "xw-rating";
  var ratingLabel = el("div", "xw-rating-label", "请为本次服务打分:");
  var stars = el("div", "xw-stars");
  var comment = el("input", "xw-comment");
  comment.placeholder = "您的意见(可不填)";
  comment.maxLength = MAX_CHARS;
  comment.id = "xw-comment";
  rating.append(ratingLabel, stars, comment);
  [1, 2, 3, 4, 5].forEach(function (n) {
    var b = el("button", "xw-star", n + "分");
    b.type = "button";
    b.setAttribute("data-score", String(n));
    b.addEventListener("click", function () {
      send({ type: "rating", score: n, comment: comment.value });
      rating.classList.add("xw-hidden");
      comment.value = "";
    });
    stars.appendChild(b);
  });
  var form = el("form", "xw-form");
  var input = el("input", "xw-input");
  input.id = "xw-input";
  input.placeholder = "请输入您的问题";
  input.maxLength = MAX_CHARS;
  input.autocomplete = "off";
  var file = el("input");
  file.type = "file";
  file.accept = "image/jpeg,image/png,image/webp,image/gif";
  file.multiple = true;
  file.className = "xw-hidden";
  file.id = "xw-file";
  var photo = el("button", "xw-photo", "图片");
  photo.type = "button";
  photo.title = "上传照片(最多3张)";
  var submit = el("button", "xw-send", "发送");
  submit.type = "submit";
  submit.id = "xw-send";
  form.append(input, file, photo, submit);
  var status = el("div", "xw-status");
  panel.append(header, list, typing, rating, status, form);
  root.append(launcher, panel);
  document.body.appendChild(root);

  var ws = null, seen = {}, retry = 0, open = false, typingTimer = null;

  function toggle(show) {
    open = show === undefined ? !open : show;
    panel.classList.toggle("xw-hidden", !open);
    try { sessionStorage.setItem("xw-open", open ? "1" : ""); } catch (e) {}
    if (open) { setUnread(0); connect(); input.focus(); }
  }
  launcher.addEventListener("click", function () { toggle(); });
  close.addEventListener("click", function () { toggle(false); });

  // the last message stays in view: again when a picture has loaded (it grows the list
  // after the first scroll) and when the rating question takes room below the list
  function scrollEnd() { list.scrollTop = list.scrollHeight; }
  function whenLoaded(img) { img.addEventListener("load", scrollEnd); img.addEventListener("error", scrollEnd); }

  function notice(text) {
    var n = el("div", "xw-msg xw-notice", text);
    list.appendChild(n);
    scrollEnd();
  }
  var welcome = "";  // the desk's greeting (messages.yml), shown while the conversation is empty
  function showWelcome() {
    if (welcome && !list.querySelector(".xw-msg")) list.appendChild(el("div", "xw-msg xw-bot xw-welcome", welcome));
  }

  function render(m) {
    if (m.id && seen[m.id]) return;
    if (m.id) seen[m.id] = true;
    var row = el("div", "xw-msg xw-" + m.sender);
    row.setAttribute("data-sender", m.sender);
    if (m.sender === "agent") row.appendChild(el("div", "xw-who", "人工客服" + (m.agent_number ? " 工号 " + m.agent_number : "")));
    if (m.text) row.appendChild(el("div", "xw-text", m.text));
    if (m.image) {
      var img = el("img", "xw-img");
      img.src = m.image;
      img.alt = "图片";
      whenLoaded(img);
      row.appendChild(img);
    }
    (m.photos || []).forEach(function (p) {
      var im = el("img", "xw-img");
      im.src = origin + p.url;  // a short-lived signed link from the desk
      im.alt = "照片";
      whenLoaded(im);
      row.appendChild(im);
    });
    if (m.buttons && m.buttons.length) {
      var bs = el("div", "xw-buttons");
      m.buttons.forEach(function (b) {
        var btn = el("button", "xw-button", b.title);
        btn.type = "button";
        btn.addEventListener("click", function () { sendText(b.payload || b.title); });
        bs.appendChild(btn);
      });
      row.appendChild(bs);
    }
    var w = list.querySelector(".xw-welcome");
    if (w) w.remove();
    list.appendChild(row);
    if (m.satisfaction) rating.classList.remove("xw-hidden");
    scrollEnd();
  }

  function setHuman(on) { badge.classList.toggle("xw-hidden", !on); }

  function connect() {
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    // the token goes in the first frame, never in the URL (access logs keep URLs)
    var url = origin.replace(/^http/, "ws") + "/ws/shop";
    ws = new WebSocket(url);
    status.textContent = "连接中…";
    ws.onopen = function () {
      retry = 0; status.textContent = "";
      ws.send(JSON.stringify({ type: "auth", token: token }));
    };
    ws.onmessage = function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d.type === "history") {
        // reload or reconnect: the desk's copy is the truth
        list.textContent = "";
        seen = {};
        welcome = d.welcome || "";
        (d.messages || []).forEach(render);
        showWelcome();
        setHuman(d.human);
        rating.classList.toggle("xw-hidden", !d.awaiting_rating);
        scrollEnd();
      } else if (d.type === "message") {
        if (!open && d.message.sender !== "shopper") setUnread(unread + 1);
        render(d.message);
        typing.classList.add("xw-hidden");
      } else if (d.type === "typing") {
        // an agent's typing has no "stopped" signal: it fades unless renewed
        typing.classList.toggle("xw-hidden", !d.on);
        clearTimeout(typingTimer);
        if (d.on) typingTimer = setTimeout(function () { typing.classList.add("xw-hidden"); }, d.who === "agent" ? 5000 : 30000);
      } else if (d.type === "status") {
        setHuman(d.human);
      } else if (d.type === "notice") {
        notice(d.text);
      }
    };
    ws.onclose = function () {
      typing.classList.add("xw-hidden");
      if (!open) return;
      status.textContent = "连接已断开,正在重连…";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * retry);
    };
  }

  function send(obj) {
    if (!ws || ws.readyState !== 1) { notice("网络连接中,请稍后再试哦。"); connect(); return false; }
    ws.send(JSON.stringify(obj));
    return true;
  }

  function sendText(text) {
    text = (text || "").trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { notice("亲,您的消息太长了(最多 " + MAX_CHARS + " 个字),请分几次发送哦。"); return; }
    if (send({ type: "message", text: text })) typing.classList.remove("xw-hidden");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var t = input.value;
    input.value = "";
    sendText(t);
  });

  photo.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () {
    var files = Array.prototype.slice.call(file.files || []);
    file.value = "";
    if (!files.length) return;
    if (files.length > MAX_PHOTOS) { notice("亲,一次最多上传 " + MAX_PHOTOS + " 张照片哦。"); return; }
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > MAX_PHOTO_BYTES) { notice("亲,照片太大了(每张最多 3 MB),请压缩后再上传哦。"); return; }
    }
    var fd = new FormData();
    files.forEach(function (f) { fd.append("photo", f, f.name); });
    status.textContent = "正在上传…";
    fetch(origin + "/api/shop/upload", { method: "POST", body: fd, headers: { Authorization: "Bearer " + token } })
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        status.textContent = "";
        if (!res[0]) notice(res[1].text || "上传失败,请稍后再试。");
      })
      .catch(function () { status.textContent = ""; notice("上传失败,请稍后再试。"); });
  });

  try { if (sessionStorage.getItem("xw-open")) toggle(true); } catch (e) {}
})();
