// The provider's "Exponential Backoff" polling code (APIXO best practices page),
// unchanged but for its base URL, which comes from MOCK_URL. Around it: a submit
// and the download of every result, as the page's "Download Results Promptly" shows.
const BASE = process.env.MOCK_URL;
const apiKey = process.env.MOCK_KEY;

async function pollWithBackoff(model, taskId, apiKey) {
let interval = 3000; // Start at 3s
const maxInterval = 30000; // Max 30s
const maxAttempts = 60;
for (let i = 0; i < maxAttempts; i++) {
const response = await fetch(
`${BASE}/api/v1/statusTask/${model}?taskId=${taskId}`,
{ headers: { 'Authorization': `Bearer ${apiKey}` } }
);
const { data } = await response.json();
if (data.state === 'success') {
return JSON.parse(data.resultJson).resultUrls;
}
if (data.state === 'failed') {
throw new Error(data.failMsg);
}
await new Promise(r => setTimeout(r, interval));
interval = Math.min(interval * 1.5, maxInterval);
}
throw new Error('Timeout');
}

const model = process.argv[2];
const input = JSON.parse(process.argv[3]);
const submit = await fetch(`${BASE}/api/v1/generateTask/${model}`, {
  method: 'POST',
  headers: { 'Authorization': `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
  body: JSON.stringify({ request_type: 'async', input }),
});
const { data: { taskId } } = await submit.json();
const urls = await pollWithBackoff(model, taskId, apiKey);
const files = [];
for (const url of urls) {
  const response = await fetch(url);
  const buffer = await response.arrayBuffer();
  files.push({ url, status: response.status, type: response.headers.get('content-type'), bytes: buffer.byteLength });
}
console.log(JSON.stringify({ taskId, files }));
