// Why: load balancing as Apache writes it, run by the wstunnel gateway:
//   <Proxy "balancer://chat">
//       BalancerMember "ws://m1" route=m1 hcmethod=TCP hcinterval=5
//       BalancerMember "ws://m2" route=m2 hcmethod=TCP hcinterval=5
//       BalancerMember "ws://m3" route=m3 hcmethod=TCP hcinterval=5
//       ProxySet lbmethod=bybusyness stickysession=ROUTEID
//   </Proxy>
//   Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
//   ProxyPass "/ws/" "balancer://chat/"
//   <Location "/balancer-manager"> SetHandler balancer-manager; Require local </Location>
// Without BACKENDS it starts three echo backends that name themselves in every reply, so the spread shows.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startGateway } from '@wstunnel/cli';
import type { BalancerMemberOptions } from '@wstunnel/core';
import { listenOnPort } from '@wstunnel/example-backend/listen';
import { WebSocketServer } from 'ws';

/** A WebSocket echo backend that says who it is: `m2: connected to /room`, then `m2: <message>` for each message. */
async function startEcho(name: string): Promise<{ url: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (socket, req) => {
    socket.send(`${name}: connected to ${req.url}`);
    socket.on('message', (data) => socket.send(`${name}: ${String(data)}`));
  });
  await once(wss, 'listening');
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** BACKENDS=ws://h1:p1,ws://h2:p2 names the members; without it, three embedded echo backends. */
async function backendsFromEnv(value: string | undefined) {
  if (value === undefined || value.trim() === '') {
    const embedded = await Promise.all(['m1', 'm2', 'm3'].map(startEcho));
    return {
      urls: embedded.map((each) => each.url),
      close: () => Promise.all(embedded.map((e) => e.close())),
    };
  }
  const urls = value.split(',').map((url) => url.trim().replace(/\/+$/, ''));
  for (const url of urls)
    if (!/^wss?:\/\/[^/?#]+(\/[^?#]*)?$/.test(url))
      throw new Error(`BACKENDS must be a comma list of ws:// or wss:// URLs, not ${JSON.stringify(url)}`);
  return { urls, close: async () => undefined };
}

const backends = await backendsFromEnv(process.env['BACKENDS']);
// Members are named m1, m2, ... in BACKENDS order: the manager's POSTs and the ROUTEID cookie use these names.
const members: BalancerMemberOptions[] = backends.urls.map((url, at) => ({
  url,
  name: `m${at + 1}`,
  route: `m${at + 1}`,
}));

const gateway = await listenOnPort((port) =>
  startGateway({
    host: '127.0.0.1',
    port,
    tunnel: {
      rules: [{ path: '/ws/', target: 'balancer://chat/' }], // ProxyPass "/ws/" "balancer://chat/"
      balancers: {
        chat: {
          method: 'bybusyness', // lbmethod=bybusyness: the member with the fewest open tunnels
          sticky: { cookie: 'ROUTEID', setCookie: true }, // stickysession=ROUTEID + the Set-Cookie recipe
          members,
          healthCheck: { type: 'tcp', interval: 5_000 }, // hcmethod=TCP hcinterval=5
        },
      },
    },
    // GET shows the balancers as JSON, POST changes a member; loopback clients only (Apache `Require local`).
    manager: { path: '/balancer-manager' },
  }),
);
const { tunnel } = gateway;
const chat = tunnel.balancers.get('chat')!;
/** The member a tunnel went to, from its backend URL. */
const memberOf = (backend: string): string =>
  chat.members.find((member) => backend === member.url || backend.startsWith(`${member.url}/`))?.name ??
  backend;

tunnel.on('open', (info) => console.log(`open ${info.url} -> ${memberOf(info.backend)}`));
tunnel.on('close', (info, stats) =>
  console.log(
    `close ${info.url} ${memberOf(info.backend)}: ${stats.bytesFromClient} in, ${stats.bytesToClient} out, ${stats.reason}`,
  ),
);
tunnel.on('failed', (error, info) =>
  console.log(`failed ${info?.url ?? '-'}: ${error.status} ${error.message}`),
);
tunnel.on('balancer', (event) => console.log(`balancer ${event.member} ${event.kind} ${event.detail}`));

// Before the first line is printed: whoever waits for it may signal at once.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: draining`);
    // New handshakes get 503; open tunnels get two seconds, then are ended. Health checks stop.
    await gateway.close(2_000);
    await backends.close();
  });
}

console.log(`listening on ${gateway.url}`);
for (const member of chat.members) console.log(`member ${member.name} ${member.url}`);
console.log(`tunnels: ${gateway.url.replace(/^http/, 'ws')}/ws/...`);
console.log(`manager: ${gateway.url}/balancer-manager (loopback only)`);
