// Renders a KRTrace --chrome file in the Performance panel of the DevTools
// copy that ships inside Chromium (devtools://devtools/bundled/trace_app.html)
// and saves a PNG. Driven by utils/screenshot-chrome-trace.sh, which
// provides playwright-core and the arguments.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [input, output, fromMs = '4.2', toMs = '5.3', pick] = process.argv.slice(2);
if (!input || !output)
	fail('usage: screenshot-chrome-trace.js TRACE.json OUT.png [FROM_MS TO_MS [X,Y]]');
const chromiumPath = process.env.KRT_CHROMIUM || '/usr/bin/chromium';
const width = 1600, height = 900;

function fail(msg) {
	console.error(`screenshot-chrome-trace: ${msg}`);
	process.exit(1);
}

// Perfetto and catapult bind a flow start ('s', 't') to the slice that encloses
// it and a flow end with "bp":"e" likewise. The DevTools Performance panel
// binds a flow event only to a slice with exactly the same ts, pid, tid and
// cat. This copy for display moves each flow event to the start of its
// enclosing slice and gives it that slice's category; the flow graph (which
// slice links to which) is unchanged. Unbound flow events are left as they are.
function rebindFlows(trace) {
	const events = Array.isArray(trace) ? trace : trace.traceEvents;
	const slices = new Map();
	for (const e of events) {
		if (e.ph !== 'X')
			continue;
		const key = `${e.pid}/${e.tid}`;
		if (!slices.has(key))
			slices.set(key, []);
		slices.get(key).push(e);
	}
	for (const own of slices.values())
		own.sort((a, b) => a.ts - b.ts);
	let moved = 0;
	for (const e of events) {
		if (e.ph !== 's' && e.ph !== 't' && e.ph !== 'f')
			continue;
		const own = slices.get(`${e.pid}/${e.tid}`) || [];
		// The last slice starting at or before the event (a thread's slices
		// do not overlap), binary search: traces can be large.
		let lo = 0, hi = own.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			if (own[mid].ts <= e.ts)
				lo = mid + 1;
			else
				hi = mid;
		}
		const at = own[lo - 1];
		if (!at || e.ts > at.ts + (at.dur || 0))
			continue;
		e.ts = at.ts;
		e.cat = at.cat;
		moved++;
	}
	return moved;
}

(async () => {
	const trace = JSON.parse(fs.readFileSync(input, 'utf8'));
	const moved = rebindFlows(trace);
	const shown = path.join(os.tmpdir(), `krt-shot-${process.pid}.json`);
	fs.writeFileSync(shown, JSON.stringify(trace));
	console.error(`screenshot-chrome-trace: ${moved} flow events bound to their slices`);
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'krt-shot-profile-'));
	const ctx = await chromium.launchPersistentContext(profile, {
		executablePath: chromiumPath, headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width, height },
	});
	try {
		const page = ctx.pages()[0] || await ctx.newPage();
		await page.goto('devtools://devtools/bundled/trace_app.html');
		await page.waitForTimeout(2500);
		// Without an inspected page the app opens a "connection closed" dialog.
		await page.keyboard.press('Escape');
		await page.waitForTimeout(300);
		await page.getByText('Performance', { exact: true }).first().click({ timeout: 5000 });
		await page.waitForTimeout(800);
		const chooser = page.waitForEvent('filechooser', { timeout: 10000 });
		await page.locator('[aria-label="Load trace…"]').first().click({ timeout: 5000 });
		await (await chooser).setFiles(shown);
		await page.waitForTimeout(4000);
		// The first load shows a shortcuts popup and the insights sidebar.
		await page.keyboard.press('Escape');
		const hide = page.locator('[aria-label="Hide sidebar"]').first();
		if (await hide.isVisible())
			await hide.click();
		await page.waitForTimeout(1300);
		// Expand the process tracks (3 for the chain fixture), then their
		// threads (7). The rows are drawn on a canvas, so these are page
		// positions of the header rows, the lowest first so those above stay put.
		for (const y of [170, 149, 129]) {
			await page.mouse.click(40, y);
			await page.waitForTimeout(300);
		}
		for (const y of [305, 285, 264, 243, 204, 183, 145]) { // thread rows
			await page.mouse.click(40, y);
			await page.waitForTimeout(300);
		}
		const bounds = await page.evaluate(async ([from, to]) => {
			const tb = await import('./services/trace_bounds/trace_bounds.js');
			const mgr = tb.TraceBounds.BoundsManager.instance();
			const all = mgr.state().micro.entireTraceBounds;
			const min = all.min + from * 1000, max = all.min + to * 1000;
			mgr.setTimelineVisibleWindow({ min, max, range: max - min });
			await new Promise((r) => setTimeout(r, 1000));
			return mgr.state().micro.timelineTraceWindow;
		}, [Number(fromMs), Number(toMs)]);
		// The panel refuses windows narrower than 1 ms.
		if (bounds.range !== Math.round((Number(toMs) - Number(fromMs)) * 1000))
			throw new Error(`the panel kept ${bounds.range} us instead of the window asked for (at least 1 ms)`);
		// Select one slice: the panel draws arrows only for the flow chain
		// through the selected slice (it has no "show all flows" mode).
		const [px, py] = (pick || '1018,387').split(',').map(Number);
		await page.mouse.click(px, py);
		await page.waitForTimeout(800);
		await page.mouse.move(5, 880);
		await page.waitForTimeout(300);
		await page.screenshot({ path: output, clip: { x: 0, y: 0, width, height: 445 } });
	} finally {
		await ctx.close();
		fs.rmSync(profile, { recursive: true, force: true });
		fs.rmSync(shown, { force: true });
	}
})().catch((e) => fail(e.message.split('\n')[0]));
