/* 店小二 chat widget: one <script src=".../widget.js" data-token="..."> tag.
   Everything the shopper, the bot or an agent wrote is rendered with textContent.
   The widget's own words come from the desk (desk/messages.yml `widget:`, served at
   /widget/words.json): none are written here. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__xiaoerWidget) return;
  window.__xiaoerWidget = true;
  var token = script.getAttribute("data-token") || "";
  var base = new URL(script.src, location.href);
  var origin = base.origin;

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = origin + "/widget.css";
  document.head.appendChild(css);

  function start(W) {
    var LIM = W.limits || {};
    var MAX_CHARS = LIM.message_chars || 1000, MAX_PHOTOS = LIM.photos || 3, MAX_PHOTO_BYTES = LIM.photo_bytes || 3000000;
    function word(key, vars) {
      var s = W[key] === undefined ? "" : String(W[key]);
      Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
      return s;
    }
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = String(text);
      return e;
    }

    var root = el("div", "xw-root");
    root.id = "xiaoer-widget";
    var launcher = el("button", "xw-launcher", word("launcher"));
    launcher.type = "button";
    launcher.id = "xw-launcher";
    // messages from the shop while the panel is closed: a count on the launcher
    var unreadBadge = el("span", "xw-unread xw-hidden");
    unreadBadge.id = "xw-unread";
    launcher.appendChild(unreadBadge);
    var unread = 0;
    function setUnread(n) { unread = n; unreadBadge.textContent = String(n); unreadBadge.classList.toggle("xw-hidden", !n); }
    var panel = el("div", "xw-panel xw-hidden");
    panel.setAttribute("role", "dialog");
    var header = el("div", "xw-header");
    var title = el("span", "xw-title", word("title"));
    var badge = el("span", "xw-badge xw-hidden", word("human"));
    badge.id = "xw-human";
    var close = el("button", "xw-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", word("close"));
    header.append(title, badge, close);
    var list = el("div", "xw-list");
    list.id = "xw-list";
    list.setAttribute("aria-live", "polite");
    var typing = el("div", "xw-typing xw-hidden", word("typing"));
    typing.id = "xw-typing";
    var rating = el("div", "xw-rating xw-hidden");
    rating.id = "xw-rating";
    var ratingLabel = el("div", "xw-rating-label", word("rating_label"));
    var stars = el("div", "xw-stars");
    var comment = el("input", "xw-comment");
    comment.placeholder = word("rating_comment");
    comment.maxLength = MAX_CHARS;
    comment.id = "xw-comment";
    rating.append(ratingLabel, stars, comment);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", "xw-star", word("score", { n: n }));
      b.type = "button";
      b.setAttribute("data-score", String(n));
      b.addEventListener("click", function () {
        send({ type: "rating", score: n, comment: comment.value });
        rating.classList.add("xw-hidden");
        comment.value = "";
      });
      stars.appendChild(b);
    });
    // a small set of common emoji (messages.yml), inserted where the cursor is
    var emojiPanel = el("div", "xw-emoji-panel xw-hidden");
    emojiPanel.id = "xw-emoji-panel";
    (W.emojis || []).forEach(function (e) {
      var b = el("button", "xw-emoji-item", e);
      b.type = "button";
      b.addEventListener("click", function () { insertAtCursor(e); });
      emojiPanel.appendChild(b);
    });
    var form = el("form", "xw-form");
    var input = el("input", "xw-input");
    input.id = "xw-input";
    input.placeholder = word("input");
    input.maxLength = MAX_CHARS;
    input.autocomplete = "off";
    var file = el("input");
    file.type = "file";
    file.accept = "image/jpeg,image/png,image/webp,image/gif";
    file.multiple = true;
    file.className = "xw-hidden";
    file.id = "xw-file";
    var emoji = el("button", "xw-emoji", "😊");
    emoji.type = "button";
    emoji.id = "xw-emoji";
    emoji.title = word("emoji_title");
    emoji.setAttribute("aria-label", word("emoji"));
    var photo = el("button", "xw-photo", word("photo"));
    photo.type = "button";
    photo.title = word("photo_title");
    var submit = el("button", "xw-send", word("send"));
    submit.type = "submit";
    submit.id = "xw-send";
    form.append(emoji, input, file, photo, submit);
    var status = el("div", "xw-status");
    panel.append(header, list, typing, rating, status, emojiPanel, form);
    // a picture enlarged over the page: click or Esc closes it
    var zoom = el("div", "xw-zoom xw-hidden");
    zoom.id = "xw-zoom";
    var zoomImg = el("img", "xw-zoom-img");
    zoomImg.alt = word("image_alt");
    var zoomClose = el("button", "xw-zoom-close", "×");
    zoomClose.type = "button";
    zoomClose.setAttribute("aria-label", word("zoom_close"));
    zoom.append(zoomImg, zoomClose);
    root.append(launcher, panel, zoom);
    document.body.appendChild(root);

    var ws = null, seen = {}, retry = 0, open = false, typingTimer = null, readUpTo = 0, convId = null;

    // The outbox (issue 12): every message the shopper sends has its own id and stays here
    // (localStorage: a reload keeps it) until the desk says it is stored. Shown as 发送中;
    // after a reconnect what the desk's history lacks is sent again (the desk stores it once).
    // Read before each change: other tabs of the shop share it (and a message stored twice is
    // stored once by the desk, so a tab may send another tab's pending message again).
    var OUTBOX = "xw-outbox", outbox = [];
    function loadOutbox() {
      try { var o = JSON.parse(localStorage.getItem(OUTBOX) || "[]"); if (Array.isArray(o)) outbox = o; } catch (e) {}
      return outbox;
    }
    function saveOutbox() { try { localStorage.setItem(OUTBOX, JSON.stringify(outbox)); } catch (e) {} }
    function mine(item) { return !item.conv || item.conv === convId; }  // another buyer's stay for them
    function newId() {
      if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
      var b = new Uint8Array(16);
      crypto.getRandomValues(b);
      return Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
    }
    function pendingRow(id) { return list.querySelector('.xw-pending[data-client-id="' + id + '"]'); }
    function settle(id) {  // stored: out of the outbox
      var before = loadOutbox().length;
      outbox = outbox.filter(function (x) { return x.client_id !== id; });
      if (outbox.length !== before) saveOutbox();
    }
    function showPending(item) {
      if (pendingRow(item.client_id)) return;
      var row = el("div", "xw-msg xw-shopper xw-pending");
      row.setAttribute("data-sender", "shopper");
      row.setAttribute("data-client-id", item.client_id);
      row.appendChild(el("div", "xw-text", item.text));
      var meta = el("div", "xw-meta");
      meta.appendChild(el("span", "xw-sending", word("sending")));
      row.appendChild(meta);
      var w = list.querySelector(".xw-welcome");
      if (w) w.remove();
      list.appendChild(row);
      scrollEnd();
    }
    function transmit(item) {
      if (!ws || ws.readyState !== 1) return false;
      ws.send(JSON.stringify({ type: "message", text: item.text, client_id: item.client_id }));
      typing.classList.remove("xw-hidden");
      return true;
    }

    function toggle(show) {
      open = show === undefined ? !open : show;
      panel.classList.toggle("xw-hidden", !open);
      root.classList.toggle("xw-open", open);
      try { sessionStorage.setItem("xw-open", open ? "1" : ""); } catch (e) {}
      if (open) { setUnread(0); connect(); input.focus(); } else { emojiPanel.classList.add("xw-hidden"); }
    }
    launcher.addEventListener("click", function () { toggle(); });
    close.addEventListener("click", function () { toggle(false); });

    function insertAtCursor(text) {
      var s = input.selectionStart === null ? input.value.length : input.selectionStart;
      var e = input.selectionEnd === null ? s : input.selectionEnd;
      if (input.value.length - (e - s) + text.length > MAX_CHARS) return;
      input.value = input.value.slice(0, s) + text + input.value.slice(e);
      input.focus();
      input.setSelectionRange(s + text.length, s + text.length);
    }
    emoji.addEventListener("click", function () { emojiPanel.classList.toggle("xw-hidden"); });

    function showZoom(src) {
      zoomImg.src = src;
      zoom.classList.remove("xw-hidden");
      zoomClose.focus();
    }
    function hideZoom() { zoom.classList.add("xw-hidden"); zoomImg.removeAttribute("src"); }
    zoom.addEventListener("click", function (e) { if (e.target !== zoomImg) hideZoom(); });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      if (!zoom.classList.contains("xw-hidden")) hideZoom();
      else if (!emojiPanel.classList.contains("xw-hidden")) emojiPanel.classList.add("xw-hidden");
    });

    // the last message stays in view: again when a picture has loaded (it grows the list
    // after the first scroll) and when the rating question takes room below the list
    function scrollEnd() { list.scrollTop = list.scrollHeight; }
    function picture(src, alt) {
      var img = el("img", "xw-img");
      img.src = src;
      img.alt = alt;
      img.title = word("zoom");
      img.tabIndex = 0;
      img.addEventListener("load", scrollEnd);
      img.addEventListener("error", scrollEnd);
      img.addEventListener("click", function () { showZoom(img.src); });
      img.addEventListener("keydown", function (e) { if (e.key === "Enter") showZoom(img.src); });
      return img;
    }

    function pad(n) { return (n < 10 ? "0" : "") + n; }
    // "14:05" today, "昨天 14:05", "11-18 14:05" before, in the shopper's own time zone
    function when(iso) {
      var d = new Date(iso);
      if (isNaN(d.getTime())) return "";
      var t = pad(d.getHours()) + ":" + pad(d.getMinutes()), now = new Date();
      var day = function (x) { return new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime(); };
      var diff = Math.round((day(now) - day(d)) / 86400000);
      if (diff === 0) return t;
      if (diff === 1) return word("yesterday") + " " + t;
      return (d.getFullYear() !== now.getFullYear() ? d.getFullYear() + "-" : "") + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + t;
    }

    function notice(text) {
      var n = el("div", "xw-msg xw-notice", text);
      list.appendChild(n);
      scrollEnd();
    }
    var welcome = "";  // the desk's greeting (messages.yml), shown while the conversation is empty
    function showWelcome() {
      if (welcome && !list.querySelector(".xw-msg")) list.appendChild(el("div", "xw-msg xw-bot xw-welcome", welcome));
    }

    function orderCard(b) {
      var c = b.card, btn = el("button", "xw-card");
      btn.type = "button";
      btn.appendChild(el("span", "xw-card-thumb", c.thumb || ""));
      var body = el("span", "xw-card-body");
      body.appendChild(el("span", "xw-card-name", c.name + (c.more ? " " + word("order_more", { n: c.more + 1 }) : "")));
      if (c.spec) body.appendChild(el("span", "xw-card-spec", c.spec));
      body.appendChild(el("span", "xw-card-id", word("order") + " " + c.order_id));
      btn.append(body, el("span", "xw-card-status", c.status));
      btn.addEventListener("click", function () { sendText(b.payload || c.order_id); });
      return btn;
    }

    function markRead() {
      list.querySelectorAll(".xw-shopper[data-id]").forEach(function (row) {
        if (Number(row.getAttribute("data-id")) <= readUpTo && !row.querySelector(".xw-read")) {
          var meta = row.querySelector(".xw-meta");
          if (meta) meta.appendChild(el("span", "xw-read", word("read")));
        }
      });
    }

    function render(m) {
      if (m.id && seen[m.id]) return;
      if (m.id) seen[m.id] = true;
      var row = el("div", "xw-msg xw-" + m.sender);
      row.setAttribute("data-sender", m.sender);
      if (m.id) row.setAttribute("data-id", String(m.id));
      if (m.sender === "agent") row.appendChild(el("div", "xw-who", word("agent") + (m.agent_number ? " " + word("agent_number") + " " + m.agent_number : "")));
      if (m.text) row.appendChild(el("div", "xw-text", m.text));
      if (m.image) row.appendChild(picture(m.image, word("image_alt")));
      (m.photos || []).forEach(function (p) {
        row.appendChild(picture(origin + p.url, word("photo_alt")));  // a short-lived signed link from the desk
      });
      if (m.buttons && m.buttons.length) {
        var bs = el("div", "xw-buttons"), cards = el("div", "xw-cards");
        m.buttons.forEach(function (b) {
          if (b.card) { cards.appendChild(orderCard(b)); return; }
          var btn = el("button", "xw-button", b.title);
          btn.type = "button";
          btn.addEventListener("click", function () { sendText(b.payload || b.title); });
          bs.appendChild(btn);
        });
        if (cards.childNodes.length) row.appendChild(cards);
        if (bs.childNodes.length) row.appendChild(bs);
      }
      if (m.at && m.sender !== "system") {
        var meta = el("div", "xw-meta");
        meta.appendChild(el("time", "xw-time", when(m.at)));
        meta.lastChild.setAttribute("datetime", m.at);
        row.appendChild(meta);
      }
      var w = list.querySelector(".xw-welcome");
      if (w) w.remove();
      var pending = m.client_id ? pendingRow(m.client_id) : null;
      if (pending) { list.replaceChild(row, pending); } else { list.appendChild(row); }
      if (m.client_id) settle(m.client_id);
      if (m.sender === "shopper") markRead();
      if (m.satisfaction) rating.classList.remove("xw-hidden");
      scrollEnd();
    }

    function setHuman(on) { badge.classList.toggle("xw-hidden", !on); }

    function connect() {
      if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
      // the token goes in the first frame, never in the URL (access logs keep URLs)
      var url = origin.replace(/^http/, "ws") + "/ws/shop";
      ws = new WebSocket(url);
      status.textContent = word("connecting");
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
          readUpTo = d.read_up_to || 0;
          convId = d.conversation_id || null;
          (d.messages || []).forEach(render);
          markRead();
          // what the desk never stored (it died holding it, or the network dropped it): again
          loadOutbox().forEach(function (item) {
            if (!mine(item)) return;
            item.conv = convId;
            showPending(item);
            transmit(item);
          });
          saveOutbox();
          showWelcome();
          setHuman(d.human);
          rating.classList.toggle("xw-hidden", !d.awaiting_rating);
          scrollEnd();
        } else if (d.type === "message") {
          if (!open && d.message.sender !== "shopper") setUnread(unread + 1);
          render(d.message);
          typing.classList.add("xw-hidden");
        } else if (d.type === "read") {
          readUpTo = Math.max(readUpTo, d.up_to || 0);
          markRead();
        } else if (d.type === "typing") {
          // an agent's typing has no "stopped" signal: it fades unless renewed
          typing.classList.toggle("xw-hidden", !d.on);
          clearTimeout(typingTimer);
          if (d.on) typingTimer = setTimeout(function () { typing.classList.add("xw-hidden"); }, d.who === "agent" ? 5000 : 30000);
        } else if (d.type === "status") {
          setHuman(d.human);
        } else if (d.type === "ack") {
          // stored before (a message sent again): no longer pending
          var row = pendingRow(d.client_id);
          settle(d.client_id);
          if (row) {
            row.classList.remove("xw-pending");
            row.removeAttribute("data-client-id");
            if (d.id) row.setAttribute("data-id", String(d.id));
            var s = row.querySelector(".xw-sending");
            if (s) s.remove();
          }
        } else if (d.type === "retry") {
          // the desk could not store it just now (its database was away): send it again shortly
          var again = loadOutbox().filter(function (x) { return x.client_id === d.client_id; })[0];
          if (again) setTimeout(function () { transmit(again); }, 2000);
        } else if (d.type === "notice") {
          if (d.client_id) {
            // refused (too fast, too long): not pending any more; the words go back to the input
            var refused = loadOutbox().filter(function (x) { return x.client_id === d.client_id; })[0];
            settle(d.client_id);
            var p = pendingRow(d.client_id);
            if (p) p.remove();
            if (refused && !input.value) input.value = refused.text;
            typing.classList.add("xw-hidden");
          }
          notice(d.text);
        }
      };
      ws.onclose = function () {
        typing.classList.add("xw-hidden");
        if (!open) return;
        status.textContent = word("reconnecting");
        retry = Math.min(retry + 1, 6);
        setTimeout(connect, 500 * retry);
      };
    }

    function send(obj) {
      if (!ws || ws.readyState !== 1) { notice(word("not_connected")); connect(); return false; }
      ws.send(JSON.stringify(obj));
      return true;
    }

    function sendText(text) {
      text = (text || "").trim();
      if (!text) return;
      if (text.length > MAX_CHARS) { notice(word("too_long")); return; }
      var item = { client_id: newId(), text: text, conv: convId };
      loadOutbox().push(item);
      saveOutbox();
      showPending(item);
      if (!transmit(item)) connect();  // it goes out once the socket is back
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var t = input.value;
      input.value = "";
      emojiPanel.classList.add("xw-hidden");
      sendText(t);
    });

    photo.addEventListener("click", function () { file.click(); });
    file.addEventListener("change", function () {
      var files = Array.prototype.slice.call(file.files || []);
      file.value = "";
      if (!files.length) return;
      if (files.length > MAX_PHOTOS) { notice(word("photo_too_many")); return; }
      for (var i = 0; i < files.length; i++) {
        if (files[i].size > MAX_PHOTO_BYTES) { notice(word("photo_too_big")); return; }
      }
      var fd = new FormData();
      files.forEach(function (f) { fd.append("photo", f, f.name); });
      status.textContent = word("uploading");
      fetch(origin + "/api/shop/upload", { method: "POST", body: fd, headers: { Authorization: "Bearer " + token } })
        .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
        .then(function (res) {
          status.textContent = "";
          if (!res[0]) notice(res[1].text || word("upload_failed"));
        })
        .catch(function () { status.textContent = ""; notice(word("upload_failed")); });
    });

    try { if (sessionStorage.getItem("xw-open")) toggle(true); } catch (e) {}
  }

  // the words first (same origin as this script); one retry, then the widget stays away
  function load(tries) {
    fetch(origin + "/widget/words.json", { credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(start)
      .catch(function () { if (tries > 0) setTimeout(function () { load(tries - 1); }, 1500); });
  }
  load(1);
})();
