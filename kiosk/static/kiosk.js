// The kiosk screen: renders the server's state, sends the resident's actions.
// Stable QA contract: every screen is <main data-screen>, every button has data-action.
"use strict";

const T = {
  brand: { ja: "証明書コンビニ交付", en: "Certificate issuance" },
  lang: { ja: "English", en: "日本語" },
  cancel: { ja: "取り消す", en: "Cancel" },
  covid: { ja: "新型コロナワクチン接種証明書", en: "COVID-19 Vaccination Certificate" },
  clear: { ja: "訂正", en: "Clear" },
  enter: { ja: "確定", en: "Enter" },
  tries: { ja: "残り回数: {n}回", en: "Tries left: {n}" },
  domestic: { ja: "日本国内用", en: "For use in Japan" },
  overseas: { ja: "海外用＋日本国内用", en: "Overseas + Japan" },
  overseasNote: { ja: "旅券情報の登録がある方のみ", en: "Only with registered passport data" },
  back: { ja: "戻る", en: "Back" },
  next: { ja: "次へ", en: "Next" },
  copies: { ja: "部数", en: "Copies" },
  fee: { ja: "料金", en: "Fee" },
  yen: { ja: "{n}円", en: "¥{n}" },
  municipality: { ja: "市区町村", en: "Municipality" },
  type: { ja: "種類", en: "Type" },
  pay: { ja: "お支払い（{n}円）", en: "Pay ¥{n}" },
  ok: { ja: "OK", en: "OK" },
  taken: { ja: "受け取りました", en: "I have taken it" },
  charged: { ja: "お支払い: {n}円", en: "Paid: ¥{n}" },
  wait: { ja: "しばらくお待ちください", en: "Please wait" },
};

let state = null;
let pin = "";
let spoken = "";
const $ = (id) => document.getElementById(id);
const tr = (key, vars = {}) => T[key][state.lang].replace(/\{(\w+)\}/g, (_, k) => vars[k]);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.onclick = v; else if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function button(action, label, cls = "choice", value = null, small = null) {
  const b = el("button", { class: cls, "data-action": action, onclick: () => send(action, value) }, label);
  if (value !== null) b.setAttribute("data-value", value);
  if (small) b.append(el("small", {}, small));
  return b;
}

async function send(action, value = null) {
  const r = await fetch("/api/action", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, value }),
  });
  if (r.ok) render(await r.json());
}

function speak(voice, id) {
  if (id === spoken) return;
  spoken = id;
  $("voice").textContent = voice[state.lang];
  if (!("speechSynthesis" in window)) return;
  speechSynthesis.cancel();
  const u = new SpeechSynthesisUtterance(voice[state.lang]);
  u.lang = state.lang === "ja" ? "ja-JP" : "en-US";
  speechSynthesis.speak(u);
}

const screens = {
  welcome: (b) => b.append(el("div", { class: "card-art" })),
  menu: (b) => b.append(el("div", { class: "choices" }, button("covid-certificate", tr("covid")))),
  pin: (b) => {
    if (state.tries !== null) b.append(el("p", { class: "tries", "data-tries": state.tries }, tr("tries", { n: state.tries })));
    b.append(el("div", { class: "dots", "data-pin-length": pin.length }, "●".repeat(pin.length) + "○".repeat(4 - pin.length)));
    const pad = el("div", { class: "keypad" });
    for (const d of ["1", "2", "3", "4", "5", "6", "7", "8", "9"]) pad.append(digit(d));
    pad.append(el("button", { "data-action": "pin-clear", onclick: () => { pin = ""; render(state); } }, tr("clear")));
    pad.append(digit("0"));
    pad.append(el("button", { "data-action": "pin-enter", onclick: () => { if (pin.length === 4) { const p = pin; pin = ""; send("pin", p); } } }, tr("enter")));
    b.append(pad);
  },
  reading: (b) => b.append(el("div", { class: "spinner" })),
  remove_card: (b) => b.append(el("div", { class: "card-art" })),
  municipality: (b) => {
    const c = el("div", { class: "choices" });
    for (const m of state.municipalities) c.append(button("municipality", state.lang === "ja" ? m.name_ja : m.name_en, "choice", m.code));
    b.append(c);
  },
  type: (b) => {
    const c = el("div", { class: "choices" }, button("domestic", tr("domestic")));
    if (state.overseas_allowed) c.append(button("overseas", tr("overseas"), "choice", null, tr("overseasNote")));
    b.append(c, el("div", { class: "row" }, button("back", tr("back"), "secondary")));
  },
  copies: (b) => b.append(
    el("div", { class: "row" },
      button("copies-fewer", "−", "secondary"),
      el("span", { class: "big", "data-copies": state.copies }, String(state.copies)),
      button("copies-more", "＋", "secondary")),
    el("p", {}, `${tr("fee")}: ${tr("yen", { n: state.total })}`),
    el("div", { class: "row" }, button("back", tr("back"), "secondary"), button("next", tr("next"), "primary"))),
  confirm: (b) => {
    const m = state.municipalities.find((x) => x.code === state.municipality) || {};
    b.append(el("dl", { class: "summary" },
      el("dt", {}, tr("municipality")), el("dd", {}, state.lang === "ja" ? m.name_ja : m.name_en),
      el("dt", {}, tr("type")), el("dd", {}, tr(state.kind)),
      el("dt", {}, tr("copies")), el("dd", {}, String(state.copies)),
      el("dt", {}, tr("fee")), el("dd", { "data-total": state.total }, tr("yen", { n: state.total }))),
      el("div", { class: "row" }, button("back", tr("back"), "secondary"), button("next", tr("next"), "primary")));
  },
  payment: (b) => b.append(el("div", { class: "row" }, button("pay", tr("pay", { n: state.total }), "primary"))),
  printing: (b) => b.append(el("div", { class: "spinner" }), el("p", {}, tr("wait"))),
  done: (b) => {
    b.append(el("p", { "data-charged": state.charged }, tr("charged", { n: state.charged })));
    const tray = el("div", { class: "tray", "data-tray": state.tray });
    for (let i = 0; i < state.tray; i++) tray.append(el("img", { src: `/api/tray/${i}.png?${spoken}`, alt: "printed certificate" }));
    b.append(tray, el("div", { class: "row" }, button("taken", tr("taken"), "primary")));
  },
  locked: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
  cancelled: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
  error: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
};

function digit(d) {
  return el("button", { "data-action": "digit", "data-value": d, onclick: () => { if (pin.length < 4) { pin += d; render(state); } } }, d);
}

function render(s) {
  const changed = !state || s.screen !== state.screen;
  if (changed && s.screen !== "pin") pin = "";
  state = s;
  document.documentElement.lang = s.lang;
  $("screen").dataset.screen = s.screen;
  $("screen").dataset.code = s.code || "";
  $("lang").textContent = T.lang[s.lang];
  $("lang").onclick = () => send("lang", s.lang === "ja" ? "en" : "ja");
  document.querySelector("[data-i18n=brand]").textContent = T.brand[s.lang];
  $("title").textContent = s.text[s.lang];
  $("message").hidden = !s.message;
  $("message").textContent = s.message ? s.message[s.lang] : "";
  $("reminder").hidden = !s.reminder;
  $("reminder").textContent = s.reminder ? s.reminder[s.lang] : "";
  const cancellable = ["menu", "pin", "municipality", "type", "copies", "confirm", "payment"].includes(s.screen);
  $("cancel").hidden = !cancellable;
  $("cancel").textContent = T.cancel[s.lang];
  $("cancel").onclick = () => send("cancel");
  const body = $("body");
  body.replaceChildren();
  screens[s.screen](body);
  speak(s.voice, s.voice_id + s.lang);
}

let last = "";
async function poll() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    const text = await r.text();
    if (text !== last) { last = text; render(JSON.parse(text)); }
  } catch (e) { /* the kiosk server restarts: keep polling */ }
  setTimeout(poll, 200);
}
poll();
