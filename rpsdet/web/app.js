// rpsdet phone page: log in, pick a served model version, take or choose a photo, draw the detections.
// Plain JS, no external resources. The token lives in sessionStorage only.
"use strict";

const TEXT = {
  en: {
    title: "Rock · Paper · Scissors", user: "User name", password: "Password", login: "Log in", logout: "Log out",
    service: "Model version", takePhoto: "Take a photo", pickImage: "Choose an image", lang: "中文",
    wrongPassword: "Wrong user name or password.", locked: "Too many failed logins. Try again in {s} s.",
    expired: "Your session has expired. Please log in again.", loggedOut: "You are logged out.",
    detecting: "Detecting…", tooLarge: "The image is too large.", badType: "This file type is not supported.",
    badImage: "The image could not be read: {d}", tooMany: "Too many requests. Try again in {s} s.",
    serverError: "Server error ({s}). Please try again later.", network: "Cannot reach the server.",
    notServed: "This model version is not served any more: pick another.",
    result: "hands: {n} · server {server} ms · round trip {total} ms · model {version}", none: "No hands found · model {version}",
    labels: { rock: "rock", paper: "paper", scissors: "scissors" },
  },
  zh: {
    title: "石头 · 剪刀 · 布", user: "用户名", password: "密码", login: "登录", logout: "退出登录",
    service: "模型版本", takePhoto: "拍照", pickImage: "选择图片", lang: "English",
    wrongPassword: "用户名或密码错误。", locked: "登录失败次数过多，请 {s} 秒后再试。",
    expired: "登录已过期，请重新登录。", loggedOut: "已退出登录。",
    detecting: "正在检测…", tooLarge: "图片太大。", badType: "不支持此文件类型。",
    badImage: "无法读取图片：{d}", tooMany: "请求过多，请 {s} 秒后再试。",
    serverError: "服务器错误（{s}），请稍后再试。", network: "无法连接服务器。",
    notServed: "此模型版本已不再提供，请选择其他版本。",
    result: "{n} 只手 · 服务器 {server} 毫秒 · 往返 {total} 毫秒 · 模型 {version}", none: "未检测到手 · 模型 {version}",
    labels: { rock: "石头", paper: "布", scissors: "剪刀" },
  },
};
const COLORS = { rock: "#e53935", paper: "#1e88e5", scissors: "#43a047" };
const MAX_UPLOAD_SIDE = 1280; // phone photos are shrunk before upload: faster, and the model needs no more

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("rpsdet-lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
let lastResult = null;

function t(key, vars = {}) {
  return TEXT[lang][key].replace(/\{(\w+)\}/g, (_, k) => vars[k]);
}

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("lang");
  if (lastResult) render(lastResult.bitmap, lastResult.data, lastResult.totalMs);
}

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function token() {
  const expires = Number(sessionStorage.getItem("rpsdet-expires") || 0);
  return Date.now() / 1000 < expires ? sessionStorage.getItem("rpsdet-token") : null;
}

function showLoggedIn(loggedIn) {
  $("login-form").hidden = loggedIn;
  $("app").hidden = !loggedIn;
}

function logOut(message) {
  sessionStorage.removeItem("rpsdet-token");
  sessionStorage.removeItem("rpsdet-expires");
  showLoggedIn(false);
  say(message, message === t("loggedOut") ? "info" : "error");
}

async function detail(response) {
  try { return (await response.json()).detail || ""; } catch { return ""; }
}

// One place turns an HTTP failure into a sentence in the current language.
async function explain(response) {
  const retry = response.headers.get("Retry-After") || "?";
  const d = await detail(response);
  switch (response.status) {
    case 401: return d.includes("expired") || !token() ? t("expired") : t("wrongPassword");
    case 404: return t("notServed");
    case 413: return t("tooLarge");
    case 415: return t("badType");
    case 400: return t("badImage", { d });
    case 429: return t("tooMany", { s: retry });
    default: return t("serverError", { s: response.status });
  }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token()}` };
  try {
    return await fetch(path, { ...options, headers });
  } catch {
    say(t("network"));
    return null;
  }
}

async function logIn(event) {
  event.preventDefault();
  let response;
  try {
    response = await fetch("api/v1/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }),
    });
  } catch {
    return say(t("network"));
  }
  if (response.status === 401) return say(t("wrongPassword"));
  if (response.status === 429) return say(t("locked", { s: response.headers.get("Retry-After") || "?" }));
  if (!response.ok) return say(t("serverError", { s: response.status }));
  const body = await response.json();
  sessionStorage.setItem("rpsdet-token", body.token);
  sessionStorage.setItem("rpsdet-expires", String(body.expires_at));
  $("password").value = "";
  say("");
  showLoggedIn(true);
  await loadModels();
}

async function loadModels() {
  const response = await api("api/v1/models");
  if (!response) return;
  if (response.status === 401) return logOut(t("expired"));
  if (!response.ok) return say(await explain(response));
  const select = $("model");
  const previous = select.value;
  const { models } = await response.json();
  select.replaceChildren(...models.map((m) => {
    const option = document.createElement("option");
    option.value = m.id;
    const map50 = m.metrics && m.metrics.map50 !== undefined ? ` · mAP50 ${Number(m.metrics.map50).toFixed(3)}` : "";
    option.textContent = `${m.name} ${m.version}${m.stage ? ` (${m.stage})` : ""} · ${m.arch}${map50}`;
    return option;
  }));
  if (models.some((m) => m.id === previous)) select.value = previous;
  $("model-picker").hidden = models.length < 2; // one version: nothing to choose
}

// Upright (EXIF) and shrunk, so what we draw on is exactly the frame the server's boxes refer to.
async function prepare(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, MAX_UPLOAD_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1) return { bitmap, blob: file };
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
  return { bitmap: await createImageBitmap(canvas), blob };
}

async function detect(file) {
  if (!file) return;
  if (!token()) return logOut(t("expired"));
  say("");
  $("status").textContent = t("detecting");
  let prepared;
  try {
    prepared = await prepare(file);
  } catch {
    $("status").textContent = "";
    return say(t("badImage", { d: file.name }));
  }
  const form = new FormData();
  form.append("image", prepared.blob, file.name || "photo.jpg");
  const started = performance.now();
  // Ray Serve's model multiplexing header: the proxy prefers a replica that already holds this version.
  const chosen = $("model").value;
  const headers = chosen ? { "serve-multiplexed-model-id": chosen } : {};
  const response = await api("api/v1/detect", { method: "POST", body: form, headers });
  const totalMs = Math.round(performance.now() - started);
  $("status").textContent = "";
  if (!response) return;
  if (response.status === 401) return logOut(await explain(response));
  if (response.status === 404) loadModels(); // the service was restarted with other versions
  if (!response.ok) return say(await explain(response));
  const data = await response.json();
  lastResult = { bitmap: prepared.bitmap, data, totalMs };
  render(prepared.bitmap, data, totalMs);
}

function render(bitmap, data, totalMs) {
  const canvas = $("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const sx = bitmap.width / data.image.width;
  const sy = bitmap.height / data.image.height;
  // Sizes in screen pixels whatever the photo's resolution: the canvas is shown at the page's width.
  const perScreenPx = bitmap.width / (canvas.clientWidth || bitmap.width);
  const line = Math.max(1, Math.round(2 * perScreenPx));
  const fontPx = Math.round(13 * perScreenPx);
  ctx.lineWidth = line;
  ctx.font = `${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  const list = $("detections");
  list.replaceChildren();
  for (const d of data.detections) {
    const [x1, y1, x2, y2] = [d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy];
    const color = COLORS[d.label] || "#ff9800";
    const text = `${TEXT[lang].labels[d.label] || d.label} ${d.score.toFixed(2)}`;
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const width = ctx.measureText(text).width + 8;
    const height = fontPx + 4;
    const top = y1 >= height ? y1 - height : y1;
    ctx.fillStyle = color;
    ctx.fillRect(x1, top, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x1 + 4, top + height - 2);
    const item = document.createElement("li");
    item.dataset.label = d.label;
    item.dataset.score = String(d.score);
    item.textContent = text;
    list.append(item);
  }
  canvas.dataset.boxes = String(data.detections.length);
  $("status").textContent = data.detections.length
    ? t("result", { n: data.detections.length, server: Math.round(data.server_ms), total: totalMs,
                    version: data.model.version })
    : t("none", { version: data.model.version });
}

$("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh" : "en";
  localStorage.setItem("rpsdet-lang", lang);
  applyLanguage();
});
$("login-form").addEventListener("submit", logIn);
$("logout").addEventListener("click", () => logOut(t("loggedOut")));
for (const id of ["camera", "picker"]) {
  $(id).addEventListener("change", (event) => { detect(event.target.files[0]); event.target.value = ""; });
}

applyLanguage();
showLoggedIn(Boolean(token()));
if (token()) loadModels();
