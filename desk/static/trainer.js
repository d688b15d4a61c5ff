// The trainer's page: review, one-click corrections, export, train/compare/activate,
// replies, report. All text via textContent; the session cookie is the desk's.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (e.className = v) : k.startsWith("on") ? e.addEventListener(k.slice(2), v) : e.setAttribute(k, v)));
    kids.forEach((k) => e.append(k instanceof Node ? k : document.createTextNode(String(k))));
    return e;
  };
  const SIGNAL = { nlu_fallback: "没听懂", low_confidence: "低置信", c7_miss: "二次未解决(C7)", handoff: "转人工",
                   rating_low: "差评", rephrase: "换说法重问", guard_rewrite: "话术被改写" };
  let meta = { intents: [], entities: [], signals: [] };
  async function api(path, body) {
    const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const r = await fetch(path, opts);
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) { showLogin(); throw new Error("login"); }
    if (!r.ok) { $("msg").textContent = " " + (data.text || data.error || r.status); throw Object.assign(new Error(data.error), { data, status: r.status }); }
    $("msg").textContent = "";
    return data;
  }
  function showLogin() { $("login").hidden = false; $("app").hidden = true; }
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    await api("/api/login", { name: f.get("name"), password: f.get("password") }).catch(() => null);
    start();
  });
  $("tabs").addEventListener("click", (ev) => {
    const t = ev.target.dataset.tab; if (!t) return;
    document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === t));
    document.querySelectorAll("main section").forEach((s) => s.classList.toggle("on", s.id === "tab-" + t));
    ({ models: loadModels, replies: loadReplies, report: loadReport })[t]?.();
  });

  // ---- review ----
  const PAGE = 20;
  let offset = 0;
  async function loadInbox() {
    const q = new URLSearchParams({ offset, limit: PAGE });
    [["from", "f-from"], ["to", "f-to"], ["signal", "f-signal"], ["intent", "f-intent"]].forEach(([k, id]) => $(id).value && q.set(k, $(id).value));
    const data = await api("/api/trainer/inbox?" + q);
    const box = $("inbox");
    const last = Math.min(data.total, offset + data.items.length);
    box.replaceChildren(el("div", { id: "pager" }, `${data.total} 个对话` + (data.total ? ` · 第 ${offset + 1}–${last} 个 ` : " "),
      el("button", { id: "page-prev", onclick: () => { offset = Math.max(0, offset - PAGE); loadInbox(); }, ...(offset ? {} : { disabled: "" }) }, "上一页"),
      el("button", { id: "page-next", onclick: () => { offset += PAGE; loadInbox(); }, ...(last < data.total ? {} : { disabled: "" }) }, "下一页")));
    data.items.forEach((c) => box.append(el("div", { class: "item", "data-sid": c.sender_id, onclick: () => openConv(c.sender_id) },
      el("div", {}, `${c.score} · ${c.last.slice(0, 16).replace("T", " ")} · ${c.messages} 条` + (c.corrected ? ` · 已标 ${c.corrected}` : "")),
      el("div", {}, c.first_message),
      el("div", {}, ...Object.entries(c.signals).map(([s, n]) => el("span", { class: "sig" }, `${SIGNAL[s] || s}×${n}`))))));
  }
  let current = null;
  async function openConv(sid) {
    current = sid;
    document.querySelectorAll(".item").forEach((i) => i.classList.toggle("on", i.dataset.sid === sid));
    const c = await api("/api/trainer/conversations/" + encodeURIComponent(sid));
    const box = $("conv"); box.replaceChildren(el("h3", {}, sid));
    c.turns.forEach((t) => box.append(turnView(sid, t)));
  }
  function turnView(sid, t) {
    const marked = (t.correction?.entities || []).map((e) => ({ ...e }));
    const text = el("div", { class: "text" }, t.text);
    const ents = el("div", { class: "meta" });
    const showEnts = () => ents.replaceChildren("实体: ", ...(marked.length ? marked.map((e, i) => el("span", { class: "sig", title: "点击去掉", onclick: () => { marked.splice(i, 1); showEnts(); } }, `${e.value || t.text.slice(e.start, e.end)} (${e.entity}) ✕`)) : ["无"]));
    showEnts();
    const entSel = el("select", {}, ...meta.entities.map((n) => el("option", { value: n }, n)));
    const mark = el("button", { onclick: () => {
      const s = window.getSelection(); if (!s.rangeCount || !text.contains(s.anchorNode)) return;
      const a = Math.min(s.anchorOffset, s.focusOffset), b = Math.max(s.anchorOffset, s.focusOffset);
      if (a === b) return;
      marked.push({ entity: entSel.value, start: a, end: b, value: t.text.slice(a, b) }); showEnts();
    } }, "标为实体");
    const pick = el("input", { list: "intent-list", value: t.correction?.intent || (t.intent !== "nlu_fallback" ? t.intent || "" : ""), placeholder: "正确的意图(或新建)" });
    const save = el("button", { onclick: async () => {
      await api("/api/trainer/corrections", { sender_id: sid, turn: t.index, intent: pick.value.trim(), entities: marked.map(({ entity, start, end }) => ({ entity, start, end })) });
      box.classList.add("fixed"); save.textContent = "已保存 ✓";
    } }, "保存修正");
    const ranking = (t.ranking || []).map((r) => `${r.name} ${(r.confidence * 100).toFixed(0)}%`).join(" · ");
    const box = el("div", { class: "turn" + (t.correction ? " fixed" : "") },
      text,
      el("div", { class: "meta" }, `识别: ${t.intent} (${(t.confidence * 100).toFixed(0)}%) · ${ranking}`),
      el("div", { class: "meta" }, "机器人: " + (t.actions || []).map((a) => (typeof a === "string" ? a : "loop:" + a.active_loop)).join(" → ")),
      ...(t.bot || []).map((b) => el("div", { class: "bot" }, "🤖 " + b)),
      el("div", {}, ...t.signals.map((s) => el("span", { class: "sig" }, (SIGNAL[s] || s) + (s === "guard_rewrite" && t.guard?.length ? ` (${t.guard.join(", ")})` : "")))),
      ents, el("div", {}, pick, " ", entSel, mark, " ", save,
        t.correction ? el("span", { class: "meta" }, ` 上次: ${t.correction.who} ${String(t.correction.at).slice(0, 16)}`) : ""));
    return box;
  }
  $("f-go").addEventListener("click", () => { offset = 0; loadInbox(); });
  $("export").addEventListener("click", async () => {
    const out = await api("/api/trainer/export", { stories: $("as-story").checked && current ? [current] : [] });
    $("export-out").textContent = `已写入 ${out.path}: ${out.examples} 条` + (out.new_intents.length ? `;新意图 ${out.new_intents.join(", ")}` : "") +
      (out.stories.length ? `;测试故事 ${out.stories.map((s) => s.story).join(", ")}` : "");
  });

  // ---- models ----
  let polling = null;
  const base = (p) => String(p || "").split("/").pop();
  async function loadModels() {
    const m = await api("/api/trainer/models");
    $("live").textContent = m.live ? base(m.live) : "(Rasa 未响应)";
    $("live-top").textContent = m.live ? "线上模型: " + base(m.live) : "";
    $("candidates").replaceChildren(el("h4", {}, "候选模型"), ...m.candidates.map((c) => el("div", {}, c, " ",
      el("button", { onclick: () => api("/api/trainer/compare", { model: c }).then(pollJob) }, "与线上模型比较"), " ",
      el("button", { onclick: () => activate(c) }, "上线"))),
      el("h4", {}, "记录"), ...m.history.map((h) => el("div", { class: "meta" }, `${String(h.created_at).slice(0, 16)} ${h.who} ${h.kind === "activate" ? "上线" : "回滚"} ${h.model}`)));
    pollJob();
  }
  const STATE = { running: "进行中", done: "完成", failed: "失败", interrupted: "中断" };
  async function pollJob() {
    const j = await api("/api/trainer/job");
    const what = j.kind === "train" ? (j.step === 2 ? "与线上模型比较" : "训练") : "比较";
    $("job").textContent = j.state === "idle" ? "" :
      `${what} (第 ${j.step}/${j.steps} 步): ${STATE[j.state] || j.state} · ${j.progress || ""} · ${j.elapsed}s`;
    $("job-log").textContent = (j.log || []).join("\n");
    $("train").disabled = j.state === "running";
    clearTimeout(polling);
    if (j.state === "running") polling = setTimeout(pollJob, 1000);
    else if (j.result?.report) showCompare(j.result.report);
    if (j.kind === "train" && j.state === "done" && !$("candidates").textContent.includes(base(j.result.model))) loadModels();
  }
  function activate(model) {
    return confirm("上线 " + base(model) + "?") && api("/api/trainer/activate", { model }).then(loadModels);
  }
  function showCompare(r) {
    const rows = r.intents.map((i) => el("tr", { class: r.better.includes(i.intent) ? "better" : r.worse.includes(i.intent) ? "worse" : "" },
      el("td", {}, i.intent), el("td", {}, i.support), el("td", {}, i.f1_a.toFixed(3)), el("td", {}, i.f1_b.toFixed(3)), el("td", {}, (i.delta >= 0 ? "+" : "") + i.delta.toFixed(3))));
    const sets = Object.entries(r.sets || {}).map(([name, x]) => el("tr", { class: x.accuracy_b > x.accuracy_a ? "better" : x.accuracy_b < x.accuracy_a ? "worse" : "" },
      el("td", {}, name === "reviewed" ? "复核过的消息" : name), el("td", {}, x.n), el("td", {}, x.accuracy_a.toFixed(3)), el("td", {}, x.accuracy_b.toFixed(3))));
    const candidate = r.b && r.b.includes("/models/") ? "models/" + r.b.split("/models/").pop() : r.b;
    $("compare").replaceChildren(el("h4", {}, `比较: 线上 ${base(r.a)} ${r.accuracy_a} → 新 ${base(r.b)} ${r.accuracy_b} (${r.n} 条)`),
      el("button", { id: "activate-compared", onclick: () => activate(candidate) }, "上线这个新模型"),
      el("table", {}, el("tr", {}, ...["数据集", "条数", "准确率 线上", "准确率 新"].map((h) => el("th", {}, h))), ...sets),
      el("div", {}, "变好: " + (r.better.join(", ") || "-")), el("div", {}, "变差: " + (r.worse.join(", ") || "-")),
      el("table", {}, el("tr", {}, ...["意图", "条数", "F1 线上", "F1 新", "Δ"].map((h) => el("th", {}, h))), ...rows),
      el("h4", {}, `预测变化 ${r.changed.length} 条`),
      ...r.changed.map((c) => el("div", { class: c.verdict === "fixed" ? "better" : c.verdict === "broken" ? "worse" : "" }, `[${({ fixed: "改对", broken: "改错", "still wrong": "仍错" })[c.verdict]}] ${c.text} — 应为 ${c.gold}: ${c.a} → ${c.b}`)));
  }
  $("train").addEventListener("click", () => api("/api/trainer/train", {}).then(pollJob));
  $("rollback").addEventListener("click", () => confirm("回滚到上一个模型?") && api("/api/trainer/rollback", {}).then(loadModels));

  // ---- replies ----
  async function loadReplies() {
    const all = await api("/api/trainer/responses");
    $("resp-list").replaceChildren(...Object.keys(all).sort().map((n) => el("div", { class: "item", onclick: () => editReply(n, all[n]) }, n)));
  }
  function editReply(name, r) {
    const areas = r.variations.filter((v) => !v.channel && v.text).map((v) => el("textarea", {}, v.text));
    const list = el("div", {}, ...areas);
    const out = el("div", {});
    $("resp-edit").replaceChildren(el("h3", {}, name), el("div", { class: "meta" }, r.file), list,
      el("button", { onclick: () => { const a = el("textarea", {}); areas.push(a); list.append(a); } }, "加一条"),
      el("button", { onclick: async () => {
        try {
          const res = await api("/api/trainer/responses/" + name, { variations: areas.map((a) => a.value).filter((v) => v.trim()) });
          out.replaceChildren("已保存 ✓ (训练后生效)", ...res.warnings.map((w) => el("div", { class: "meta" }, `${w.platform}: ${w.message}`)));
        } catch (e) {
          out.replaceChildren(...(e.data?.problems || []).map((p) => el("div", { class: "worse" }, `第 ${p.variation + 1} 条: ` +
            (p.kind === "placeholder" ? `未知占位符 ${p.names.join(", ")}` : p.findings.map((f) => `${f.platform} ${f.rule_id} ${f.message}` + (f.suggestion ? ` 建议: ${f.suggestion}` : "")).join("; ")))));
        }
      } }, "检查并保存"), out);
  }

  // ---- report: charts drawn with the vendored Chart.js (/vendor/chartjs/chart.umd.js) ----
  const charts = {};
  function chart(id, config) {
    charts[id]?.destroy();
    charts[id] = new window.Chart($(id), { ...config, options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options } });
    return charts[id];
  }
  const hbar = (labels, data, label, color) => ({ type: "bar", data: { labels, datasets: [{ label, data, backgroundColor: color }] },
                                                  options: { indexAxis: "y", plugins: { legend: { display: false } } } });
  async function loadReport() {
    const days = $("r-days").value || 14;
    const r = await api("/api/trainer/report?days=" + days);
    const person = r.conversations - r.without_person;
    $("r-summary").textContent = `近 ${days} 天: ${r.conversations} 个对话,机器人独立处理 ${r.without_person}` +
      (r.conversations ? ` (${(100 * r.without_person / r.conversations).toFixed(1)}%)` : "");
    chart("c-fallback", { type: "line", data: { labels: r.fallback_per_day.map((d) => d.day),
      datasets: [{ label: "没听懂比例 %", data: r.fallback_per_day.map((d) => +(d.rate * 100).toFixed(1)), borderColor: "#b4232a", backgroundColor: "#b4232a" }] },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } },
                 plugins: { tooltip: { callbacks: { afterBody: (items) => (r.fallback_per_day[items[0].dataIndex].missed || []).map(([t, n]) => `${t} ×${n}`) } } } } });
    chart("c-missed", hbar(r.misunderstood.map(([t]) => t.slice(0, 24)), r.misunderstood.map(([, n]) => n), "次数", "#e07b39"));
    chart("c-intents", hbar(r.intents.slice(0, 25).map(([n]) => n), r.intents.slice(0, 25).map(([, c]) => c), "消息数", "#3b6fb6"));
    chart("c-confusions", hbar(r.confusions.map(([p]) => p), r.confusions.map(([, n]) => n), "修正次数", "#8a4fb4"));
    chart("c-handled", { type: "doughnut", data: { labels: ["机器人独立处理", "转过人工"],
      datasets: [{ data: [r.without_person, person], backgroundColor: ["#2a8a3e", "#b4232a"] }] } });
    // the same figures as text, for screen readers and copying
    $("r-text").replaceChildren(
      el("h4", {}, "每日没听懂"), ...r.fallback_per_day.map((d) => el("div", { class: "meta" }, `${d.day} ${(d.rate * 100).toFixed(1)}% (${d.fallback}/${d.messages})` +
        (d.missed.length ? " · " + d.missed.map(([t, n]) => `${t} ×${n}`).join(" · ") : ""))),
      el("h4", {}, "混淆 (模型 → 训练师)"), ...r.confusions.map(([p, n]) => el("div", { class: "meta" }, `${p} ×${n}`)));
  }
  $("r-go").addEventListener("click", loadReport);

  async function start() {
    let me;
    try { me = await api("/api/me"); } catch (e) { return; }
    $("login").hidden = true; $("app").hidden = false;
    $("me").textContent = `${me.name} (${me.role})`;
    // the last 7 days by default: the whole tracker store can be large
    $("f-from").value = new Date(Date.now() - 7 * 86400e3).toISOString().slice(0, 10);
    meta = await api("/api/trainer/meta");
    meta.signals.forEach((s) => $("f-signal").append(el("option", { value: s }, SIGNAL[s] || s)));
    meta.intents.forEach((s) => $("f-intent").append(el("option", { value: s }, s)));
    document.body.append(el("datalist", { id: "intent-list" }, ...meta.intents.map((n) => el("option", { value: n }))));
    loadInbox();
    api("/api/trainer/models").then((m) => { $("live-top").textContent = m.live ? "线上模型: " + base(m.live) : ""; }).catch(() => null);
  }
  start();
})();
