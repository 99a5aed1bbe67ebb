"use strict";
// The review page's behaviour: verdicts saved in localStorage under this review set's id,
// keyboard shortcuts, and the export of reviews/verdicts.csv. Conversation text is never
// read or written here; every string this script writes goes through textContent or value.
(() => {
  const body = document.body;
  const columns = body.dataset.columns.split(",");
  const storeKey = "pixelated-review:" + body.dataset.setId;
  const convs = Array.from(document.querySelectorAll("article.conv"));
  const reasons = convs.length
    ? Array.from(convs[0].querySelectorAll("select option"), (o) => o.value).filter(Boolean)
    : [];
  const reviewer = document.getElementById("reviewer");
  const message = document.getElementById("message");
  let storageOk = true;

  // A note in the CSV is "<reason>: <note>"; split it back when the reason is a known one.
  function splitNote(note) {
    for (const r of reasons) {
      if (note === r) return { reason: r, note: "" };
      if (note.startsWith(r + ": ")) return { reason: r, note: note.slice(r.length + 2) };
    }
    return { reason: "", note: note };
  }
  function joinNote(v) {
    return v.reason && v.note ? v.reason + ": " + v.note : v.reason || v.note;
  }

  function load() {
    const prior = JSON.parse(document.getElementById("prior-verdicts").textContent);
    const verdicts = {};
    for (const [id, v] of Object.entries(prior)) {
      verdicts[id] = { verdict: v.verdict, reviewer: v.reviewer, ...splitNote(v.note) };
    }
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(storeKey));
    } catch (e) {
      storageOk = false;
    }
    if (!saved || typeof saved.verdicts !== "object") return { reviewer: "", current: 0, verdicts: verdicts };
    Object.assign(verdicts, saved.verdicts);
    return { reviewer: saved.reviewer || "", current: saved.current || 0, verdicts: verdicts };
  }
  const state = load();

  function save() {
    try {
      localStorage.setItem(storeKey, JSON.stringify(state));
    } catch (e) {
      storageOk = false;
    }
    if (!storageOk) say("Progress cannot be saved in this browser: export the CSV before closing the page.", true);
  }
  // A problem is marked by a sign and words as well as colour.
  function say(text, problem = false) {
    message.className = problem ? "problem" : "";
    message.textContent = (problem ? "\u26A0 " : "") + text;
  }

  function verdictOf(conv) {
    return state.verdicts[conv.dataset.id] || { verdict: "", reviewer: null, reason: "", note: "" };
  }
  function reviewed(conv) {
    const v = verdictOf(conv).verdict;
    return v === "keep" || v === "drop";
  }

  function show(conv) {
    const v = verdictOf(conv);
    for (const radio of conv.querySelectorAll("input[type=radio]")) radio.checked = radio.value === v.verdict;
    conv.querySelector("[data-field=reason]").value = v.reason;
    conv.querySelector("[data-field=note]").value = v.note;
    const label = conv.querySelector("[data-state]");
    label.className = "state " + v.verdict;
    const who = " by " + (v.reviewer || "you");
    label.textContent =
      v.verdict === "keep" ? "\u2714 Kept" + who : v.verdict === "drop" ? "\u2716 Dropped" + who : "Not reviewed";
  }
  function showProgress() {
    const done = convs.filter(reviewed).length;
    document.getElementById("progress").textContent = done + " of " + convs.length + " reviewed";
    document.getElementById("progress-bar").value = done;
  }

  // Any change made on this page is this reviewer's: the name is filled in at export.
  function update(conv, change) {
    state.verdicts[conv.dataset.id] = { ...verdictOf(conv), ...change, reviewer: null };
    show(conv);
    showProgress();
    save();
  }

  function current() {
    return convs[Math.min(Math.max(state.current, 0), convs.length - 1)];
  }
  function markCurrent(index) {
    state.current = index;
    for (const conv of convs) conv.removeAttribute("aria-current");
    current().setAttribute("aria-current", "true");
    save();
  }
  function go(index) {
    if (!convs.length) return;
    markCurrent(Math.min(Math.max(index, 0), convs.length - 1));
    current().focus({ preventScroll: true });
    current().scrollIntoView({ block: "start" });
  }
  function nextUnreviewed() {
    for (let step = 1; step <= convs.length; step++) {
      const index = (state.current + step) % convs.length;
      if (!reviewed(convs[index])) return go(index);
    }
    say("Every conversation on this page has a verdict.");
  }

  // As pixelated.core.csvsafe: a cell a spreadsheet would run as a formula gets a leading
  // quote (OWASP), which gates.read_verdicts strips again.
  function csvField(text) {
    const safe = /^'*[=+\-@\t\r]/.test(text) ? "'" + text : text;
    return /[",\r\n]/.test(safe) ? '"' + safe.replace(/"/g, '""') + '"' : safe;
  }
  // Every verdict this page knows (those of reviews/verdicts.csv included), sorted by id,
  // in the columns gates.read_verdicts reads: the file can replace reviews/verdicts.csv as is.
  function verdictsCsv(name) {
    const rows = Object.keys(state.verdicts)
      .sort()
      .filter((id) => ["keep", "drop"].includes(state.verdicts[id].verdict))
      .map((id) => {
        const v = state.verdicts[id];
        const row = { conversation_id: id, verdict: v.verdict, reviewer: v.reviewer || name, note: joinNote(v) };
        return columns.map((c) => csvField(row[c])).join(",");
      });
    return { text: [columns.join(","), ...rows].join("\n") + "\n", count: rows.length };
  }
  function exportCsv() {
    const name = reviewer.value.trim();
    if (!name && Object.values(state.verdicts).some((v) => v.verdict && !v.reviewer)) {
      say("Enter your name as reviewer before exporting.", true);
      reviewer.focus();
      return;
    }
    const csv = verdictsCsv(name);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv.text], { type: "text/csv" }));
    link.download = "verdicts.csv";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    say("Exported " + csv.count + " verdicts as verdicts.csv: save it as reviews/verdicts.csv.");
  }

  const keys = {
    j: () => go(state.current + 1),
    k: () => go(state.current - 1),
    u: nextUnreviewed,
    a: () => update(current(), { verdict: "keep" }),
    d: () => update(current(), { verdict: "drop" }),
    c: () => update(current(), { verdict: "", reason: "", note: "" }),
    r: () => current().querySelector("[data-field=reason]").focus(),
    n: () => current().querySelector("[data-field=note]").focus(),
    e: exportCsv,
    "?": () => document.getElementById("help").focus(),
  };
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !convs.length) return;
    if (ev.target.matches("input:not([type=radio]), textarea, select")) {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.target === reviewer ? go(state.current) : current().focus();
      }
      return;
    }
    const action = keys[ev.key];
    if (action) {
      ev.preventDefault();
      action();
    }
  }

  function wire(conv, index) {
    show(conv);
    conv.addEventListener("focusin", () => state.current !== index && markCurrent(index));
    conv.addEventListener("change", (ev) => {
      if (ev.target.type === "radio") update(conv, { verdict: ev.target.value });
      if (ev.target.dataset.field === "reason") update(conv, { reason: ev.target.value });
    });
    conv.querySelector("[data-field=note]").addEventListener("input", (ev) => update(conv, { note: ev.target.value }));
  }

  convs.forEach(wire);
  reviewer.value = state.reviewer;
  reviewer.addEventListener("input", () => {
    state.reviewer = reviewer.value;
    save();
  });
  document.getElementById("export").addEventListener("click", exportCsv);
  document.addEventListener("keydown", onKey);
  if (convs.length) markCurrent(state.current);
  showProgress();
})();
