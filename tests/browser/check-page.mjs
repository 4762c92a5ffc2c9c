// Loads one self-contained HTML page in headless Chromium (Debian's, via
// playwright-core) and prints one JSON line for tests/it/report.rs:
//   problems  console errors and warnings, page errors, dialogs (a script
//             that ran), and every request other than the page itself
//   counts    of svg, script and section elements
//   pixels    of a screenshot, and how many are not white, and its colours
//
//   node check-page.mjs PAGE.html SCREENSHOT.png
// CHROMIUM names the browser (default /usr/bin/chromium).
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [pagePath, screenshot] = process.argv.slice(2);
if (!pagePath || !screenshot) {
  console.error('usage: node check-page.mjs PAGE.html SCREENSHOT.png');
  process.exit(2);
}
// As root in a sandbox, without the network: no sandbox, no GPU, and none
// of Chromium's own background connections.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const url = pathToFileURL(pagePath).href;
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  page.on('request', (r) => { if (r.url() !== url) problems.push(`request: ${r.url()}`); });
  await page.goto(url, { waitUntil: 'load' });
  const counts = await page.evaluate(() => ({
    svg: document.querySelectorAll('svg').length,
    script: document.querySelectorAll('script').length,
    section: document.querySelectorAll('section').length,
  }));
  const png = await page.screenshot({ path: screenshot });
  // Decode the screenshot in a blank page and count what is on it.
  const blank = await browser.newPage();
  const pixels = await blank.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, img.width, img.height).data;
    const colours = new Set();
    let notWhite = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) notWhite += 1;
      colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    return { total: d.length / 4, notWhite, colours: colours.size };
  }, png.toString('base64'));
  console.log(JSON.stringify({ problems, counts, pixels }));
} finally {
  await browser.close();
}
