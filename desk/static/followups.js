/* F4: the console's promise panel (desk/followups.py). Open promises with their
   due time, overdue ones in red, "已兑现" closes one and sends the answer. */
(function () {
  "use strict";
  var STATE = {open: "待兑现", reminded: "即将到期", overdue: "已超时"};
  var box = document.createElement("div");
  box.id = "followups";
  box.style.cssText = "position:fixed;left:8px;bottom:8px;width:290px;max-height:40vh;overflow-y:auto;" +
    "background:#fff;border:1px solid #d1d5db;border-radius:8px;padding:6px 8px;font-size:13px;z-index:50;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.12)";
  function el(tag, text, css) {
    var e = document.createElement(tag);
    if (text) e.textContent = text;
    if (css) e.style.cssText = css;
    return e;
  }
  function when(iso) {
    var d = new Date(iso);
    return (d.getMonth() + 1) + "-" + d.getDate() + " " + String(d.getHours()).padStart(2, "0") + ":" +
      String(d.getMinutes()).padStart(2, "0");
  }
  function kept(p) {
    var text = window.prompt("兑现承诺:发给买家的回复(可留空只关闭)", "");
    if (text === null) return;
    fetch("/api/followups/promises/" + p.id + "/kept", {
      method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: text})
    }).then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (x) {
        if (x[0] === 422) window.alert("回复未通过质检,请修改后再发");
        load();
      });
  }
  function render(data) {
    box.textContent = "";
    box.appendChild(el("b", "承诺跟进 (" + data.promises.length + ")"));
    data.promises.forEach(function (p) {
      var row = el("div", "", "border-top:1px solid #eee;padding:4px 0" + (p.overdue ? ";background:#fee2e2" : ""));
      row.appendChild(el("div", (STATE[p.state] || p.state) + " · 截止 " + when(p.due_at) +
        (p.buyer_id ? " · " + p.buyer_id : "")));
      row.appendChild(el("div", p.topic || "", "color:#6b7280;font-size:12px;word-break:break-all"));
      var b = el("button", "已兑现");
      b.type = "button";
      b.addEventListener("click", function () { kept(p); });
      row.appendChild(b);
      box.appendChild(row);
    });
  }
  function load() {
    fetch("/api/followups/promises", {credentials: "same-origin"}).then(function (r) {
      if (r.status !== 200) { box.remove(); return null; }
      if (!box.isConnected) document.body.appendChild(box);
      return r.json();
    }).then(function (data) { if (data) render(data); }).catch(function () {});
  }
  load();
  setInterval(load, 30000);
})();
