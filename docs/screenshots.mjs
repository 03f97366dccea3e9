// Screenshots of TensorBoard for docs/experiment.md: the landing page (Time Series, opened on the address
// that pins the experiment's cards), the mask chart (Custom Scalars) and the HParams table, taken by a
// headless Chromium. Run by hand, not in CI.
//
// Once, in a scratch folder outside the repository:
//   mkdir -p /work/scratch-browser && cd /work/scratch-browser && npm install @sparticuz/chromium puppeteer-core
// Then, from the repository root, with the project's venv active (it starts `python -m tensorboard.main`):
//   NODE_PATH=/work/scratch-browser/node_modules node docs/screenshots.mjs logs/leak [docs]
// or against a TensorBoard already running on 127.0.0.1:
//   NODE_PATH=... TENSORBOARD_URL=http://127.0.0.1:6006 node docs/screenshots.mjs logs/leak
//
// Writes <out dir, default docs>/tensorboard-{time-series,mask-chart,hparams}.png. Look at each one.

import { execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";

// NODE_PATH is not consulted by ES module imports; createRequire honours it.
const require = createRequire(path.join(process.cwd(), "noop.js"));
const chromium = require("@sparticuz/chromium");
const puppeteer = require("puppeteer-core");

const [logDir, outDir = "docs"] = process.argv.slice(2);
if (!logDir) {
  console.error("usage: node docs/screenshots.mjs <log dir> [out dir]");
  process.exit(2);
}
const LANDING = "import sys; from attention_lab.api import landing_url; print(landing_url(sys.argv[1]))";
const START_TIMEOUT_MS = 120_000; // the first scan of the logs on a busy machine
const RENDER_WAIT_MS = 4_000; // charts draw after their data arrives

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function startTensorBoard() {
  const port = await freePort();
  const python = process.env.PYTHON || "python";
  const args = ["-m", "tensorboard.main", "--logdir", logDir, "--host", "127.0.0.1", "--port", String(port)];
  const child = spawn(python, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tensorboard exited ${child.exitCode}: ${stderr}`);
    try {
      const runs = await (await fetch(`${url}/data/runs`)).json();
      if (runs.length > 0) return { url, child };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill();
  throw new Error(`tensorboard did not list runs within ${START_TIMEOUT_MS / 1000} s: ${stderr}`);
}

async function capture(page, url, file, prepare) {
  await page.goto(url, { waitUntil: "networkidle0", timeout: 60_000 });
  await new Promise((r) => setTimeout(r, RENDER_WAIT_MS));
  if (prepare) await prepare(page);
  await new Promise((r) => setTimeout(r, RENDER_WAIT_MS));
  const target = path.join(outDir, file);
  await page.screenshot({ path: target });
  console.log(`wrote ${target}`);
}

const external = process.env.TENSORBOARD_URL;
const board = external ? { url: external, child: null } : await startTensorBoard();
const browser = await puppeteer.launch({
  args: chromium.args,
  executablePath: await chromium.executablePath(),
  headless: true,
  defaultViewport: { width: 1600, height: 1000 },
});
try {
  const page = await browser.newPage();
  // The landing address of attention_lab.api.landing_url: the experiment's cards pinned above the others.
  const python = process.env.PYTHON || "python";
  const landing = execFileSync(python, ["-c", LANDING, board.url]).toString().trim();
  await capture(page, landing, "tensorboard-time-series.png");
  // Custom Scalars, unsmoothed: enlarge the first chart of the "mask" category (val/loss beside val/loss_causal).
  await capture(page, `${board.url}/#custom_scalars&_smoothingWeight=0`, "tensorboard-mask-chart.png", async (p) => {
    const [expand] = await p.$$('>>> paper-icon-button[icon="fullscreen"]');
    if (expand) await expand.click();
    else console.warn("no expand button found: the mask chart stays small");
  });
  // HParams: wide enough for every column of the table.
  await page.setViewport({ width: 2400, height: 900 });
  await capture(page, `${board.url}/#hparams`, "tensorboard-hparams.png");
} finally {
  await browser.close();
  if (board.child) board.child.kill();
}
