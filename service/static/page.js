// The drawing page: draw on #canvas (pointer events: mouse, touch, pen), send it as a PNG to
// /v1/predict/image (the same preprocessing as any uploaded image), show the answer, say so when
// the model finds no digit in it, and with "Show why" the saliency from /v1/explain/image.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const result = document.getElementById("result");
const digitOut = document.getElementById("digit");
const confidence = document.getElementById("confidence");
const errorOut = document.getElementById("error");
const bars = document.getElementById("bars");
const seen = document.getElementById("seen");
const verdict = document.getElementById("verdict");
const showWhy = document.getElementById("show-saliency");
const why = document.getElementById("why");
const saliencyCanvas = document.getElementById("saliency");
let lastPng = null; // the drawing last predicted, for its explanation
const LINE_WIDTH = 18; // canvas pixels out of 280: about MNIST's stroke width once scaled to 20 px

const barRows = [];
for (let d = 0; d < 10; d++) {
  const row = document.createElement("div");
  row.className = "bar";
  row.setAttribute("role", "listitem");
  row.dataset.digit = String(d);
  row.innerHTML = `<span class="label">${d}</span><span class="track"><span class="fill"></span></span>` +
    `<span class="value"></span>`;
  bars.append(row);
  barRows.push(row);
}

function setBars(probabilities, top) {
  barRows.forEach((row, d) => {
    const p = probabilities ? probabilities[d] : 0;
    row.dataset.probability = String(p);
    row.classList.toggle("top", d === top);
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(2)}%`;
    row.querySelector(".value").textContent = probabilities ? `${(p * 100).toFixed(1)} %` : "";
  });
}

function showError(message) {
  errorOut.textContent = message;
  errorOut.hidden = false;
}

function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  digitOut.textContent = "?";
  confidence.textContent = "";
  errorOut.hidden = true;
  setBars(null, -1);
  showVerdict(null);
  clearWhy();
  lastPng = null;
  result.dataset.status = "empty";
}

// --- drawing
ctx.lineCap = "round";
ctx.lineJoin = "round";
let last = null;

function canvasPoint(event) {
  const box = canvas.getBoundingClientRect(); // the canvas is scaled by CSS on small screens
  return { x: (event.clientX - box.left) * canvas.width / box.width,
           y: (event.clientY - box.top) * canvas.height / box.height };
}

function strokeTo(point) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = LINE_WIDTH;
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  ctx.lineTo(point.x, point.y);
  ctx.stroke();
  last = point;
}

canvas.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  last = canvasPoint(event);
  strokeTo(last); // a click leaves a dot
});
canvas.addEventListener("pointermove", (event) => {
  if (last === null) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) strokeTo(canvasPoint(e));
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  canvas.addEventListener(type, () => { last = null; });
}

// --- prediction
function showSeen(input) {
  const image = new ImageData(28, 28);
  input.flat().forEach((v, i) => {
    image.data.set([v, v, v, 255], i * 4);
  });
  seen.getContext("2d").putImageData(image, 0, 0);
}

// is_digit: true, false, or null (a model version without the decision: say nothing)
function showVerdict(body) {
  const isDigit = body ? body.is_digit : null;
  result.dataset.isDigit = isDigit === null ? "unknown" : String(isDigit);
  verdict.hidden = isDigit !== false;
  verdict.textContent = isDigit === false
    ? `Not a digit: this does not look like any digit 0-9 to the model. Its closest guess is ${body.digit}, ` +
      "shown below with the probabilities, but do not trust it."
    : "";
}

// The API's message starts with where the problem is (`body: ...`), for programs; a person at the
// pad needs only what is wrong, which is the one detail's own message.
function errorText(body, status) {
  const error = body && body.error;
  if (!error) return `HTTP ${status}`;
  return error.details && error.details.length === 1 ? error.details[0].msg : error.message;
}

async function postPng(url, png) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "image/png" }, body: png });
  const body = await response.json();
  if (!response.ok) throw new Error(errorText(body, response.status));
  return body;
}

async function predict() {
  result.dataset.status = "pending";
  errorOut.hidden = true;
  clearWhy();
  try {
    const png = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const body = await postPng("/v1/predict/image?return_input=true", png);
    digitOut.textContent = String(body.digit);
    // a non-digit's probabilities only say which digit it is least unlike: no confidence to show
    confidence.textContent = body.is_digit === false ? "(not a digit)"
      : `(${(body.probability * 100).toFixed(1)} %)`;
    setBars(body.probabilities, body.digit);
    showVerdict(body);
    showSeen(body.input);
    lastPng = png;
    result.dataset.status = "ready";
    if (showWhy.checked) explain();
  } catch (err) {
    digitOut.textContent = "?";
    confidence.textContent = "";
    setBars(null, -1);
    showVerdict(null);
    showError(err.message || String(err));
    result.dataset.status = "error";
  }
}

// --- saliency: red for the predicted digit, blue against it, over the dimmed input
let explaining = 0; // the latest explanation asked for: an older answer arriving late is dropped

function clearWhy() {
  explaining += 1;
  saliencyCanvas.getContext("2d").clearRect(0, 0, 28, 28);
  why.hidden = !showWhy.checked;
  why.dataset.status = showWhy.checked ? "empty" : "off";
}

function showSaliency(saliency, input) {
  const values = saliency.flat();
  const pixels = input.flat();
  const largest = Math.max(...values.map(Math.abs)) || 1;
  const image = new ImageData(28, 28);
  values.forEach((s, i) => {
    const grey = pixels[i] * 0.35;
    const share = Math.min(1, Math.abs(s) / largest);
    const colour = s >= 0 ? [255, 60, 30] : [40, 120, 255];
    image.data.set([...colour.map((c) => grey + (c - grey) * share), 255], i * 4);
  });
  saliencyCanvas.getContext("2d").putImageData(image, 0, 0);
}

async function explain() {
  if (lastPng === null) return;
  const mine = ++explaining;
  why.hidden = false;
  why.dataset.status = "pending";
  try {
    const body = await postPng("/v1/explain/image", lastPng);
    if (mine !== explaining) return;
    showSaliency(body.saliency, body.input);
    why.dataset.digit = String(body.digit);
    why.dataset.status = "ready";
  } catch (err) {
    if (mine !== explaining) return;
    showError(`Why: ${err.message || err}`);
    why.dataset.status = "error";
  }
}

showWhy.addEventListener("change", () => {
  if (showWhy.checked) {
    explain();
  } else {
    clearWhy();
  }
});

async function showModel() {
  const out = document.getElementById("model");
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    if (!response.ok) throw new Error(errorText(info, response.status));
    const accuracy = info.metrics && info.metrics.test_accuracy;
    out.textContent = `model: ${info.name} v${info.version}` +
      (accuracy ? ` · test accuracy ${(accuracy * 100).toFixed(2)} %` : "");
  } catch (err) {
    out.textContent = `model: unavailable (${err.message || err})`;
  }
}

document.getElementById("clear").addEventListener("click", clearCanvas);
document.getElementById("predict").addEventListener("click", predict);
clearCanvas();
showModel();
