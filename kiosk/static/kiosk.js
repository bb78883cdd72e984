// The kiosk screen: renders the server's state, sends the resident's actions.
// Stable QA contract: every screen is <main data-screen>, every button has data-action
// (listed in kiosk/README.md). Nothing about the resident is kept here: the PIN digits live
// in one variable until they are sent, and the page holds no storage, cookie or cache.
"use strict";

const T = {
  brand: { ja: "証明書コンビニ交付", en: "Certificate issuance" },
  lang: { ja: "English", en: "日本語" },
  cancel: { ja: "取り消す", en: "Cancel" },
  covid: { ja: "新型コロナワクチン接種証明書", en: "COVID-19 Vaccination Certificate" },
  covidNote: { ja: "1通120円", en: "¥120 a copy" },
  clear: { ja: "訂正", en: "Clear" },
  enter: { ja: "確定", en: "OK" },
  tries: { ja: "残り回数: {n}回", en: "Tries left: {n}" },
  lastTry: {
    ja: "次に間違えるとロックされ、市区町村の窓口での手続きが必要になります",
    en: "One more wrong PIN locks it; you would then have to go to your municipal office",
  },
  pinHint: { ja: "入力した数字は表示されません", en: "The digits are not shown" },
  domestic: { ja: "日本国内用", en: "For use in Japan" },
  overseas: { ja: "海外用＋日本国内用", en: "Overseas + Japan" },
  domesticNote: { ja: "国内で使う証明書", en: "For use within Japan" },
  overseasNote: { ja: "2通になります（旅券情報の登録がある方）", en: "Two certificates (with registered passport data)" },
  notOffering: {
    ja: "コンビニ交付を行っていません。{name}の窓口で申請してください",
    en: "Not issued at convenience stores. Please apply at the {name} office",
  },
  back: { ja: "戻る", en: "Back" },
  next: { ja: "次へ", en: "Next" },
  copies: { ja: "部数", en: "Copies" },
  fee: { ja: "料金", en: "Fee" },
  yen: { ja: "{n}円", en: "¥{n}" },
  municipality: { ja: "市区町村", en: "Municipality" },
  type: { ja: "種類", en: "Type" },
  pay: { ja: "支払う", en: "Pay" },
  ok: { ja: "OK", en: "OK" },
  taken: { ja: "受け取りました", en: "I have taken it" },
  charged: { ja: "お支払い: {n}円", en: "Paid: ¥{n}" },
  sheet: { ja: "印刷した証明書: 1枚", en: "Printed: 1 page" },
  sheets: { ja: "印刷した証明書: {n}枚", en: "Printed: {n} pages" },
  wait: { ja: "しばらくお待ちください", en: "Please wait" },
  steps: {
    ja: ["カード", "暗証番号", "選ぶ", "お支払い", "受け取り"],
    en: ["Card", "PIN", "Choose", "Pay", "Take"],
  },
};

// a line under each screen's title: what to do, and what happens next
const SUB = {
  welcome: (s) => s.card_present
    ? { ja: "続けて使うときは、いったん取ってから置き直してください", en: "To use it, lift it and place it again" }
    : { ja: "読み取りが終わるまで、カードは置いたままにしてください", en: "Leave it on the reader until the screen tells you to take it" },
  pin: { ja: "券面事項入力補助用の暗証番号です", en: "The PIN of the card's text-information application" },
  remove_card: { ja: "カードを取ると次に進みます", en: "The next step starts once you take the card" },
  municipality: { ja: "証明書は接種を受けた市区町村ごとに発行されます", en: "Each municipality certifies the doses it gave" },
  // a copy of the overseas type is two certificates, so it costs twice as much
  copies: (s) => s.kind === "overseas"
    ? { ja: `1部${s.copy_fee}円（海外用と日本国内用の2通）。最大${s.max_copies}部です`,
        en: `¥${s.copy_fee} a copy (an overseas and a Japan certificate), up to ${s.max_copies} copies` }
    : { ja: `1部${s.copy_fee}円。最大${s.max_copies}部です`, en: `¥${s.copy_fee} a copy, up to ${s.max_copies} copies` },
  payment: {
    ja: "このシミュレーターでは「支払う」を押すとお支払いになります。印刷できなかったときは料金はかかりません",
    en: "In this simulator, “Pay” stands for paying. If printing fails, you are not charged",
  },
  locked: { ja: "マイナンバーカードをお持ちになり、窓口で暗証番号を再設定してください", en: "Take your My Number Card to the office to reset the PIN" },
};

// which step of the bar each screen belongs to (none: the bar is hidden)
const STEP = { welcome: 0, menu: 0, pin: 1, reading: 1, remove_card: 1, municipality: 2, checking: 2,
               type: 2, copies: 2, confirm: 2, payment: 3, printing: 4, done: 4 };
const CANCELLABLE = ["menu", "pin", "municipality", "type", "copies", "confirm", "payment"];

let state = null;
let pin = "";
let spoken = "";
let last = ""; // the last state drawn, as the server sent it
let shown = 0; // counts renders of the tray, so each visit's pages are fetched afresh
const $ = (id) => document.getElementById(id);
const tr = (key, vars = {}) => T[key][state.lang].replace(/\{(\w+)\}/g, (_, k) => vars[k]);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.onclick = v;
    else if (k === "class") e.className = v;
    else if (v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function button(action, label, cls = "choice", value = null, small = null) {
  const b = el("button", { class: cls, "data-action": action, "data-value": value, onclick: () => send(action, value) }, label);
  if (small) b.append(el("small", {}, small));
  return b;
}

async function send(action, value = null) {
  const r = await fetch("/api/action", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, value }),
  });
  if (!r.ok) return;
  // the poll compares with the last state shown: an answer shown here counts as seen too,
  // or a later state equal to an earlier poll's (type → back → checking → type) is never drawn
  last = await r.text();
  render(JSON.parse(last));
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

function stage(kind) {
  return el("div", { class: `stage ${kind}` }, el("div", { class: "card-art" }), el("div", { class: "reader" }));
}

function addDigit(d) {
  if (pin.length < 4) { pin += d; render(state); }
}

function enterPin() {
  if (pin.length === 4) { const p = pin; pin = ""; send("pin", p); }
}

function digit(d) {
  return el("button", { "data-action": "digit", "data-value": d, onclick: () => addDigit(d) }, d);
}

// A keyboard works on the PIN screen too. Digits typed in full width (０–９, a Japanese keyboard's
// usual mode) are the same digits: refusing them silently leaves the resident guessing why.
addEventListener("keydown", (e) => {
  if (!state || state.screen !== "pin" || e.ctrlKey || e.altKey || e.metaKey) return;
  const key = e.key.normalize("NFKC");
  if (/^[0-9]$/.test(key)) addDigit(key);
  else if (e.key === "Backspace") { pin = pin.slice(0, -1); render(state); }
  else if (e.key === "Enter") enterPin();
  else return;
  e.preventDefault(); // or Enter would also press the keypad button that has the focus
});

const screens = {
  welcome: (b) => b.append(stage(state.card_present ? "take" : "place")),
  menu: (b) => b.append(el("div", { class: "menu" }, button("covid-certificate", tr("covid"), "choice wide", null, tr("covidNote")))),
  pin: (b) => {
    const info = el("div", {});
    if (state.tries !== null) info.append(el("p", { class: "tries", "data-tries": state.tries }, tr("tries", { n: state.tries })));
    if (state.tries === 1) info.append(el("p", { class: "warn", "data-last-try": "" }, tr("lastTry")));
    const cells = el("div", { class: "cells", "data-pin-length": pin.length });
    for (let i = 0; i < 4; i++) cells.append(el("span", { class: i < pin.length ? "on" : "" }, i < pin.length ? "●" : ""));
    info.append(cells, el("p", { class: "hint" }, tr("pinHint")));
    const pad = el("div", { class: "keypad" });
    for (const d of "123456789") pad.append(digit(d));
    pad.append(el("button", { class: "fn", "data-action": "pin-clear", onclick: () => { pin = ""; render(state); } }, tr("clear")));
    pad.append(digit("0"));
    const enter = el("button", { class: "enter", "data-action": "pin-enter", onclick: enterPin }, tr("enter"));
    enter.disabled = pin.length !== 4;
    pad.append(enter);
    b.append(el("div", { class: "pin-layout" }, info, pad));
  },
  reading: (b) => b.append(el("div", { class: "spinner" }), el("p", { class: "wait" }, tr("wait"))),
  remove_card: (b) => b.append(stage("take")),
  municipality: (b) => {
    const c = el("div", { class: "choices" });
    for (const m of state.municipalities) c.append(button("municipality", state.lang === "ja" ? m.name_ja : m.name_en, "choice", m.code));
    // shown, not hidden: a resident of one learns why it is missing and where to go instead
    for (const m of state.not_offering) {
      const name = state.lang === "ja" ? m.name_ja : m.name_en;
      c.append(el("button", { class: "choice off", disabled: "", "data-not-offering": m.code },
        name, el("small", {}, tr("notOffering", { name }))));
    }
    b.append(c);
  },
  checking: (b) => b.append(el("div", { class: "spinner" }), el("p", { class: "wait" }, tr("wait"))),
  type: (b) => {
    const c = el("div", { class: "choices" }, button("domestic", tr("domestic"), "choice", null, tr("domesticNote")));
    if (state.overseas_allowed) c.append(button("overseas", tr("overseas"), "choice", null, tr("overseasNote")));
    b.append(c, el("div", { class: "row" }, button("back", tr("back"), "secondary")));
  },
  copies: (b) => {
    // at a limit the button says so itself instead of doing nothing when pressed
    const fewer = button("copies-fewer", "−", "secondary");
    fewer.disabled = state.copies <= 1;
    const more = button("copies-more", "＋", "secondary");
    more.disabled = state.copies >= state.max_copies;
    b.append(
      el("div", { class: "copies" },
        fewer, el("span", { class: "count", "data-copies": state.copies }, String(state.copies)), more),
      el("p", { class: "fee" }, `${tr("fee")}: ${tr("yen", { n: state.total })}`),
      el("div", { class: "row" }, button("back", tr("back"), "secondary"), button("next", tr("next"), "primary")));
  },
  confirm: (b) => {
    const m = state.municipalities.find((x) => x.code === state.municipality) || {};
    b.append(el("dl", { class: "summary" },
      el("dt", {}, tr("municipality")), el("dd", {}, state.lang === "ja" ? m.name_ja : m.name_en),
      el("dt", {}, tr("type")), el("dd", {}, tr(state.kind)),
      el("dt", {}, tr("copies")), el("dd", {}, String(state.copies)),
      el("dt", {}, tr("fee")), el("dd", { "data-total": state.total }, tr("yen", { n: state.total }))),
      el("div", { class: "row" }, button("back", tr("back"), "secondary"), button("next", tr("next"), "primary")));
  },
  payment: (b) => b.append(
    el("p", { class: "amount", "data-total": state.total }, tr("yen", { n: state.total })),
    el("div", { class: "row" }, button("pay", tr("pay"), "primary"))),
  printing: (b) => b.append(el("div", { class: "spinner" }), el("p", { class: "wait" }, tr("wait"))),
  done: (b) => {
    shown += 1;
    const tray = el("div", { class: "tray", "data-tray": state.tray });
    for (let i = 0; i < state.tray; i++) tray.append(el("img", { src: `/api/tray/${i}.png?v=${shown}`, alt: `${i + 1}/${state.tray}` }));
    const info = el("div", {},
      el("p", { "data-charged": state.charged }, tr("charged", { n: state.charged })),
      el("p", { class: "sheets" }, tr(state.tray === 1 ? "sheet" : "sheets", { n: state.tray })),
      el("div", { class: "row" }, button("taken", tr("taken"), "primary")));
    b.append(el("div", { class: "done-layout" }, info, el("div", { class: "tray-box" }, tray)));
    requestAnimationFrame(fitTray);
  },
  locked: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
  cancelled: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
  error: (b) => b.append(el("div", { class: "row" }, button("ok", tr("ok"), "primary"))),
  out_of_service: () => {}, // nothing to press until the reader is back
};

// Every printed page in view at once (an overseas visit prints up to 10), each as large as the
// space left allows: the rows and columns that give the largest pages win.
const PAGE = 297 / 210; // A4 portrait: height / width
function fitTray() {
  const tray = document.querySelector(".tray");
  if (!tray) return;
  const n = tray.children.length, gap = 12, pad = 12;
  const w = tray.parentElement.clientWidth - 2 * pad;
  const h = $("screen").getBoundingClientRect().bottom - parseFloat(getComputedStyle($("screen")).paddingBottom)
    - tray.getBoundingClientRect().top - 2 * pad;
  let best = { height: 0, cols: n };
  for (let rows = 1; rows <= n; rows++) {
    const cols = Math.ceil(n / rows);
    const height = Math.floor(Math.min((h - gap * (rows - 1)) / rows, (w - gap * (cols - 1)) / cols * PAGE));
    if (height > best.height) best = { height, cols };
  }
  tray.style.gridTemplateColumns = `repeat(${best.cols}, auto)`;
  for (const img of tray.children) img.style.height = `${Math.max(best.height, 40)}px`;
}
// again whenever the screen's box changes: the window, or a longer voice line below it
new ResizeObserver(fitTray).observe($("screen"));

function steps(s) {
  const bar = $("steps");
  bar.replaceChildren();
  const at = STEP[s.screen];
  bar.className = at === undefined ? "steps off" : "steps";
  T.steps[s.lang].forEach((name, i) => {
    bar.append(el("li", { class: i === at ? "now" : i < at ? "done" : "" }, name));
  });
}

function render(s) {
  const changed = !state || s.screen !== state.screen;
  if (changed && s.screen !== "pin") pin = "";
  // the tray's images are re-fetched only when the screen or language changes
  const same = state && !changed && s.lang === state.lang && s.tray === state.tray;
  state = s;
  document.documentElement.lang = s.lang;
  $("screen").dataset.screen = s.screen;
  $("screen").dataset.code = s.code || "";
  $("lang").textContent = T.lang[s.lang];
  $("lang").onclick = () => send("lang", s.lang === "ja" ? "en" : "ja");
  document.querySelector("[data-i18n=brand]").textContent = T.brand[s.lang];
  steps(s);
  $("title").textContent = s.text[s.lang];
  const sub = typeof SUB[s.screen] === "function" ? SUB[s.screen](s) : SUB[s.screen];
  $("sub").hidden = !sub;
  $("sub").textContent = sub ? sub[s.lang] : "";
  $("message").hidden = !s.message;
  $("message").textContent = s.message ? s.message[s.lang] : "";
  $("reminder").hidden = !s.reminder;
  $("reminder").textContent = s.reminder ? s.reminder[s.lang] : "";
  $("cancel").hidden = !CANCELLABLE.includes(s.screen);
  $("cancel").textContent = T.cancel[s.lang];
  $("cancel").onclick = () => send("cancel");
  if (!(same && s.screen === "done")) {
    const body = $("body");
    body.replaceChildren();
    screens[s.screen](body);
  }
  speak(s.voice, s.voice_id + s.lang);
}

async function poll() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    const text = await r.text();
    if (text !== last) { last = text; render(JSON.parse(text)); }
  } catch (e) { /* the kiosk server restarts: keep polling */ }
  setTimeout(poll, 200);
}
poll();
