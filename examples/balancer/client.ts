// Why: to see the balancer at work, open several WebSockets at once and keep them open: each line says which member
// answered and which ROUTEID cookie the gateway set on the 101.
// Run: pnpm --dir examples/balancer client [COUNT] [URL]   (COUNT=3, URL=ws://127.0.0.1:8080/ws/room; ROUTE=m2 sends
// Cookie: ROUTEID=.m2, as a browser would after the first visit). Ctrl-C closes them.
import { WebSocket } from 'ws';

const count = Number(process.argv[2] ?? 3);
const url = process.argv[3] ?? 'ws://127.0.0.1:8080/ws/room';
const route = process.env['ROUTE'];
const headers: Record<string, string> = route ? { Cookie: `ROUTEID=.${route}` } : {};

const open: WebSocket[] = [];
let stopping = false;
// Handlers first: a signal that comes while tunnels are still opening closes those too.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    stopping = true;
    for (const client of open) if (client.readyState === WebSocket.OPEN) client.close();
  });
for (let at = 1; at <= count && !stopping; at++) {
  const client = new WebSocket(url, { headers });
  open.push(client);
  let cookie = '';
  client.on('upgrade', (res) => {
    cookie = res.headers['set-cookie']?.join(', ') ?? '';
  });
  // The greeting can arrive in the same read as the 101: listen before the socket opens.
  const greeting = await new Promise<string>((resolve, reject) => {
    client.once('message', (data) => resolve(String(data)));
    client.once('unexpected-response', (_req, res) => reject(new Error(`${url}: ${res.statusCode}`)));
    client.once('error', reject);
  });
  console.log(`#${at} ${greeting}${cookie === '' ? '' : `   (Set-Cookie: ${cookie})`}`);
  if (stopping) client.close();
}
if (!stopping) console.log(`holding ${open.length} tunnels open; Ctrl-C closes them`);
