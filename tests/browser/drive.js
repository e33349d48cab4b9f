// Drives headless Chromium over its DevTools pipe (no packages needed):
// loads relate's page, types a query into the search box, checks the
// rendered results, opens a paper, asks for "more like this", checks the
// recommendations, and saves screenshots (light, dark, phone width).
//
// usage: node drive.js CHROMIUM BASE_URL OUT_DIR
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const [chromium, base, outDir] = process.argv.slice(2);
if (!chromium || !base || !outDir) {
  console.error("usage: node drive.js CHROMIUM BASE_URL OUT_DIR");
  process.exit(2);
}
const QUERY = "theorem proving in Lean";
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "relate-chromium-"));
const browser = spawn(
  chromium,
  [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--remote-debugging-pipe", "--user-data-dir=" + profileDir,
    "--window-size=1280,900", "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] }
);
let browserErr = "";
browser.stdio[2].on("data", (d) => { browserErr += d; });
const toBrowser = browser.stdio[3];
const fromBrowser = browser.stdio[4];

let nextId = 1;
const waiting = new Map();
let buffer = "";
fromBrowser.on("data", (chunk) => {
  buffer += chunk.toString("utf8");
  let end;
  while ((end = buffer.indexOf("\0")) >= 0) {
    const message = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (message.id && waiting.has(message.id)) {
      const { resolve, reject, method } = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error) reject(new Error(method + ": " + message.error.message));
      else resolve(message.result);
    }
  }
});

function send(method, params, sessionId) {
  const id = nextId++;
  const message = { id, method, params: params || {} };
  if (sessionId) message.sessionId = sessionId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, method });
    toBrowser.write(JSON.stringify(message) + "\0");
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fail(message) {
  throw new Error(message);
}

async function main() {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const call = (method, params) => send(method, params, sessionId);
  const evaluate = async (expression) => {
    const r = await call("Runtime.evaluate", { expression, returnByValue: true });
    if (r.exceptionDetails) fail("page script failed: " + JSON.stringify(r.exceptionDetails));
    return r.result.value;
  };
  const until = async (what, expression, ms) => {
    const start = Date.now();
    for (;;) {
      if (await evaluate(expression)) return;
      if (Date.now() - start > (ms || 30000)) fail("timed out waiting for " + what);
      await sleep(100);
    }
  };
  const screenshot = async (name) => {
    const { data } = await call("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    const file = path.join(outDir, name);
    fs.writeFileSync(file, Buffer.from(data, "base64"));
    console.log("check_page: screenshot " + file);
  };

  await call("Page.enable");
  await call("Page.navigate", { url: base + "/" });
  await until("the search box", "document.readyState === 'complete' && !!document.getElementById('q')");
  const home = await evaluate("document.body.innerText");
  if (!/Search \d+ papers? by meaning/.test(home)) fail("the home page lacks its introduction: " + home);

  // Type the query as a user would, then press Enter.
  await evaluate("document.getElementById('q').focus()");
  await call("Input.insertText", { text: QUERY });
  await call("Input.dispatchKeyEvent", { type: "keyDown", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13, text: "\r" });
  await call("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13 });
  await until("the results", "location.search.indexOf('q=') >= 0 && document.readyState === 'complete' && document.querySelectorAll('.results li').length > 0");
  const results = await evaluate("document.body.innerText");
  if (!results.includes("Papers about") || !results.includes(QUERY)) fail("no results heading: " + results);
  if (!results.includes("LeanAgent")) fail("the Lean paper is not among the results: " + results);
  const rows = await evaluate("document.querySelectorAll('main > .results li').length");
  if (rows !== 10) fail("expected 10 results, found " + rows);
  const scored = await evaluate("Array.from(document.querySelectorAll('.results .score')).every(e => /^0\\.\\d{3}$/.test(e.textContent))");
  if (!scored) fail("results lack scores");
  console.log("check_page: typed a query and found " + rows + " results");
  await screenshot("search.png");

  // Open the first result, ask for more like it, wait for recommendations.
  await evaluate("document.querySelector('.results a.title').click()");
  await until("the paper page", "document.readyState === 'complete' && !!document.querySelector('article.paper .like')");
  const paper = await evaluate("document.body.innerText");
  if (!paper.includes("Related papers") || !paper.includes("More like this")) fail("paper page incomplete: " + paper);
  await evaluate("document.querySelector('article.paper .like').click()");
  await until("recommendations", "!document.getElementById('recommended').hidden && document.querySelectorAll('#recommended li').length > 0");
  const recommended = await evaluate("document.getElementById('recommended').innerText");
  if (!recommended.includes("Recommended for you") || !recommended.includes("like ")) fail("recommendations lack reasons: " + recommended);
  console.log("check_page: more like this gave " + (await evaluate("document.querySelectorAll('#recommended li').length")) + " recommendations");
  await screenshot("paper.png");

  await call("Emulation.setEmulatedMedia", { features: [{ name: "prefers-color-scheme", value: "dark" }] });
  const dark = await evaluate("getComputedStyle(document.body).backgroundColor");
  if (dark !== "rgb(22, 24, 28)") fail("dark colours not applied: " + dark);
  await screenshot("paper-dark.png");

  await call("Emulation.setDeviceMetricsOverride", { width: 390, height: 844, deviceScaleFactor: 2, mobile: true });
  await call("Page.navigate", { url: base + "/?q=" + encodeURIComponent(QUERY) });
  await until("the results on a phone", "document.readyState === 'complete' && document.querySelectorAll('.results li').length > 0");
  const overflow = await evaluate("document.documentElement.scrollWidth - window.innerWidth");
  if (overflow > 0) fail("the page is " + overflow + " px wider than a phone screen");
  await screenshot("search-phone.png");
  console.log("check_page: ok");
}

const guard = setTimeout(() => {
  console.error("check_page: timed out after 120 s\n" + browserErr);
  browser.kill("SIGKILL");
  process.exit(1);
}, 120000);

function removeProfile() {
  try {
    fs.rmSync(profileDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.error("check_page: could not remove " + profileDir + ": " + e.message);
  }
}

function browserExit(ms) {
  return new Promise((resolve) => {
    if (browser.exitCode !== null || browser.signalCode !== null) return resolve();
    const timer = setTimeout(() => { browser.kill("SIGKILL"); resolve(); }, ms);
    browser.once("exit", () => { clearTimeout(timer); resolve(); });
  });
}

main()
  .then(
    () => 0,
    (e) => {
      console.error("check_page: FAILED: " + e.message);
      return 1;
    }
  )
  .then(async (code) => {
    clearTimeout(guard);
    await Promise.race([send("Browser.close").catch(() => {}), sleep(2000)]);
    await browserExit(5000);
    removeProfile();
    process.exit(code);
  });
