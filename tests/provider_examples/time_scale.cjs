// Preloaded (node -r) in front of the provider's unchanged polling code: its timers run
// TIME_SCALE times faster, as the mock's clock does under `mockserver serve --time-scale`.
// The exchange is the one a real run would have, in virtual time; the test takes ms, not seconds.
const scale = Number(process.env.TIME_SCALE || "1");
if (!(scale > 0)) throw new Error(`TIME_SCALE must be a positive number, got ${process.env.TIME_SCALE}`);
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = (fn, ms = 0, ...args) => realSetTimeout(fn, ms / scale, ...args);
