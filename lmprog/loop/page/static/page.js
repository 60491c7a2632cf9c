// lmprog label: answer rows from the keyboard. Every text goes into the page as text (textContent), never markup.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { data: null, at: 0, typed: "", cursor: 0, ticked: new Set(), busy: false };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function status(message, error) {
    $("status").textContent = message || "";
    $("status").classList.toggle("error", Boolean(error));
  }

  function labelNames() { return state.data.labels.map((label) => label.name); }
  function item() { return state.data.items[state.at]; }

  function progress() {
    const data = state.data;
    $("progress").textContent = `${data.answered} of ${data.items.length} answered · answers go to ${data.file}`;
  }

  // Where the cursor starts on an item: its answer, else the suggested label, else the gold one, else the first.
  function start() {
    const current = item();
    const names = labelNames();
    const first = (current.answer && current.answer[0]) || (current.suggested && current.suggested[0]) ||
      (current.given && current.given[0]);
    state.cursor = Math.max(0, names.indexOf(first));
    state.ticked = new Set(current.answer || (state.data.multi && current.suggested) || []);
    state.typed = "";
  }

  function render() {
    const data = state.data;
    progress();
    if (!data.items.length) { status("The queue is empty."); return; }
    const current = item();
    $("card").hidden = false;
    $("position").textContent = `Row ${state.at + 1} of ${data.items.length}`;
    const kind = $("item-kind");
    kind.textContent = current.kind === "review" ? "Review this gold label" : "Label this row";
    kind.classList.toggle("review", current.kind === "review");
    const inputs = $("inputs");
    inputs.replaceChildren(...current.inputs.map(([name, text]) => {
      const box = el("div", "input");
      box.append(el("div", "input-name", name), el("div", "input-text", text));
      return box;
    }));
    $("context").replaceChildren(...current.context.flatMap(([key, value]) => [el("dt", "", key), el("dd", "", value)]));
    $("review").hidden = current.kind !== "review";
    $("given").textContent = (current.given || []).join(", ") || "(none)";
    $("suggested").textContent = (current.suggested || []).join(", ") || "(none)";
    $("answer").textContent = current.answer ? `Answered: ${current.answer.join(", ") || "(no label)"}` +
      (current.action && current.action !== "label" ? ` (${current.action})` : "") + " · answer again to change it" : "";
    renderLabels();
    if (current.error) status(current.error, true);
  }

  function renderLabels() {
    const current = item();
    const list = $("labels");
    list.replaceChildren(...state.data.labels.map((label, index) => {
      const row = el("li", "label");
      row.dataset.name = label.name;
      row.classList.toggle("highlighted", index === state.cursor);
      row.classList.toggle("selected", state.ticked.has(label.name));
      row.append(el("span", "key", index + 1), el("span", "name", label.name));
      const marks = [];
      if ((current.given || []).includes(label.name)) marks.push("gold");
      if ((current.suggested || []).includes(label.name)) marks.push("suggested");
      if (marks.length) row.append(el("span", "mark", marks.join(" · ")));
      if (label.description) row.append(el("span", "description", label.description));
      row.addEventListener("click", () => { state.cursor = index; state.data.multi ? toggle() : submit(); });
      return row;
    }));
    const typed = state.typed ? `typed: ${state.typed}` : "";
    status(typed);
  }

  // Digits pick a label by number; letters pick the first label whose name, or a word in it, starts with them.
  function pick() {
    const typed = state.typed.toLowerCase();
    const names = labelNames();
    let index = -1;
    if (/^[0-9]+$/.test(typed)) {
      index = Number(typed) - 1;
    } else {
      index = names.findIndex((name) => name.toLowerCase().startsWith(typed));
      if (index < 0) index = names.findIndex((name) => name.toLowerCase().split(/[\s_\-/]+/).some((w) => w.startsWith(typed)));
    }
    if (index >= 0 && index < names.length) state.cursor = index;
    renderLabels();
    if (index < 0 || index >= names.length) status(`typed: ${state.typed} (no label matches)`, true);
  }

  function toggle() {
    const name = labelNames()[state.cursor];
    state.ticked.has(name) ? state.ticked.delete(name) : state.ticked.add(name);
    state.typed = "";
    renderLabels();
  }

  function chosen() {
    if (!state.data.multi) return [labelNames()[state.cursor]];
    return state.ticked.size ? labelNames().filter((name) => state.ticked.has(name)) : [labelNames()[state.cursor]];
  }

  async function submit(labels) {
    if (state.busy) return;
    state.busy = true;
    const current = item();
    try {
      const response = await fetch("api/answer", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ id: current.id, labels: labels || chosen() }),
      });
      const reply = await response.json();
      if (!response.ok) { status(reply.error || `the server answered ${response.status}`, true); return; }
      const wasAnswered = current.answer !== null;
      state.data.items[state.at] = reply.item;
      if (!wasAnswered) state.data.answered += 1;
      if (reply.item.error) { render(); return; }
      advance();
    } catch (error) {
      status(`not saved: the server cannot be reached (${error.message})`, true);
    } finally {
      state.busy = false;
    }
  }

  // The next unanswered row after this one (wrapping), else simply the next row.
  function advance() {
    const items = state.data.items;
    for (let step = 1; step <= items.length; step += 1) {
      const index = (state.at + step) % items.length;
      if (items[index].answer === null) { go(index); return; }
    }
    $("done").hidden = false;
    go(Math.min(state.at + 1, items.length - 1));
  }

  function go(index) {
    state.at = Math.max(0, Math.min(index, state.data.items.length - 1));
    start();
    render();
  }

  function onKey(event) {
    if (!state.data || !state.data.items.length || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const names = labelNames();
    const handled = true;
    if (key === "Enter") submit();
    else if (key === "=" && item().kind === "review") submit(item().given);
    else if (key === " " && state.data.multi) toggle();
    else if (key === "ArrowDown") { state.cursor = (state.cursor + 1) % names.length; renderLabels(); }
    else if (key === "ArrowUp") { state.cursor = (state.cursor - 1 + names.length) % names.length; renderLabels(); }
    else if (key === "ArrowRight") go((state.at + 1) % state.data.items.length);
    else if (key === "ArrowLeft") go((state.at - 1 + state.data.items.length) % state.data.items.length);
    else if (key === "Escape") { state.typed = ""; renderLabels(); }
    else if (key === "Backspace") { state.typed = state.typed.slice(0, -1); state.typed ? pick() : renderLabels(); }
    else if (key.length === 1 && /[\p{L}\p{N}_\-]/u.test(key)) { state.typed += key; pick(); }
    else return;
    if (handled) event.preventDefault();
  }

  async function load() {
    try {
      const response = await fetch("api/state");
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      state.data = await response.json();
    } catch (error) {
      status(`cannot load the rows: ${error.message}`, true);
      return;
    }
    document.title = `lmprog label · ${state.data.task}`;
    $("title").textContent = `lmprog label · ${state.data.task}`;
    document.body.classList.toggle("multi", state.data.multi);
    document.body.classList.toggle("has-review", state.data.items.some((i) => i.kind === "review"));
    const first = state.data.items.findIndex((i) => i.answer === null);
    if (first < 0 && state.data.items.length) $("done").hidden = false;
    go(first < 0 ? 0 : first);
    document.addEventListener("keydown", onKey);
    document.body.dataset.ready = "true";
  }

  load();
})();
