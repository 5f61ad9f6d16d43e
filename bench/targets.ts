/** Why: the things compared, as one list; a new proxy is one more entry (and, if it needs one, a program in servers/). */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyCommand, nginxCommand, peerUnavailable, peerVersion } from './peers.ts';

/** What a target's start command may depend on. */
export interface TargetContext {
  /** Port the proxy must listen on (127.0.0.1). */
  readonly port: number;
  /** Port of the echo backend (127.0.0.1); it answers upgrades on any path. */
  readonly backendPort: number;
  /** Run wstunnel from packages/cli/dist instead of its TypeScript sources. */
  readonly dist: boolean;
}

export interface ProxyCommand {
  readonly command: string;
  readonly args: readonly string[];
}

export interface Target {
  readonly name: string;
  readonly description: string;
  /** How to start the proxy (its pid is the one whose CPU is measured); null means the generator dials the backend. */
  readonly start: ((context: TargetContext) => ProxyCommand) | null;
  /** Why the target cannot run on this machine (e.g. a binary is not installed); absent or undefined when it can. */
  readonly unavailable?: () => string | undefined;
  /** `false`: runs only when named with `--targets` (a variant, not one of the comparisons the report is for). */
  readonly byDefault?: false;
}

/** Request-target the generator upgrades on every target; proxies route the `/ws/` prefix to the backend. */
export const UPGRADE_PATH = '/ws/echo';

const node = process.execPath;

/** The Node flags an executable's `#!/usr/bin/env -S node ...` line gives it, so the bench runs it as installed. */
function shebangFlags(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  return match === null ? [] : match[1]!.trim().split(/\s+/);
}
const cliPackage = import.meta.resolve('@wstunnel/cli/package.json');
const server = (file: string): string => fileURLToPath(new URL(`./servers/${file}`, import.meta.url));
/** Node flag every Node target gets, so it cannot outlive the bench. */
const EXIT_WITH_PARENT = `--import=${new URL('./servers/exit-with-parent.ts', import.meta.url).href}`;

export const TARGETS: readonly Target[] = [
  {
    name: 'direct',
    description: 'no proxy: the generator talks to the echo backend',
    start: null,
  },
  {
    name: 'wstunnel',
    description:
      'the wstunnel gateway (@wstunnel/cli), default options, --quiet, with the Node flags its executable sets',
    start: ({ port, backendPort, dist }) => ({
      command: node,
      args: [
        EXIT_WITH_PARENT,
        ...shebangFlags(fileURLToPath(new URL('src/bin.ts', cliPackage))),
        ...(dist ? [] : ['--conditions=@wstunnel/source']),
        fileURLToPath(new URL(dist ? 'dist/bin.js' : 'src/bin.ts', cliPackage)),
        '--listen',
        `127.0.0.1:${port}`,
        '--pass',
        `/ws/=ws://127.0.0.1:${backendPort}/`,
        '--quiet',
      ],
    }),
  },
  {
    name: 'wstunnel-balancer',
    byDefault: false,
    description:
      'the wstunnel gateway with its rule on balancer://pool/: 3 members (distinct names, all on the echo backend), byrequests, no sticky, no health checks',
    start: ({ port, backendPort, dist }) => ({
      command: node,
      args: [
        EXIT_WITH_PARENT,
        ...(dist ? [] : ['--conditions=@wstunnel/source']),
        server('balancer-wstunnel.ts'),
        String(port),
        String(backendPort),
      ],
    }),
  },
  ...(['express', 'koa', 'fastify'] as const).map((framework) => ({
    name: framework,
    description: `@wstunnel/${framework} in a minimal ${framework} app, upgrades routed through the framework`,
    start: ({ port, backendPort }: TargetContext): ProxyCommand => ({
      command: node,
      args: [
        EXIT_WITH_PARENT,
        '--conditions=@wstunnel/source',
        server(`${framework}-wstunnel.ts`),
        String(port),
        String(backendPort),
      ],
    }),
  })),
  {
    name: 'hpm',
    description: 'Express 5 + http-proxy-middleware 4, ws: true, upgrade subscribed explicitly',
    start: ({ port, backendPort }) => ({
      command: node,
      args: [EXIT_WITH_PARENT, server('hpm.ts'), String(port), String(backendPort)],
    }),
  },
  {
    name: 'http-proxy-3',
    description: 'node:http + http-proxy-3 2 (createProxyServer, ws: true), proxy.ws() on "upgrade" for /ws/',
    start: ({ port, backendPort }) => nodeServer('http-proxy-3.ts', port, backendPort),
  },
  {
    name: 'fastify-http-proxy',
    description:
      'Fastify 5 + @fastify/http-proxy 11, websocket: true, prefix /ws: ends the WebSocket on both sides and relays ' +
      'messages (ws), answering 101 before its backend connection is up',
    start: ({ port, backendPort }) => nodeServer('fastify-http-proxy.ts', port, backendPort),
  },
  {
    name: 'node-pipe',
    description:
      'a floor, not a product: node:http "upgrade" → net.connect, raw head forwarded, then pipe() both ways; ' +
      'no routing, no validation, no error handling beyond destroy',
    start: ({ port, backendPort }) => nodeServer('node-pipe.ts', port, backendPort),
  },
  {
    name: 'nginx',
    get description() {
      return (
        `${peerVersion('nginx')} (Debian), one process like 1 worker (master_process off), the usual WebSocket ` +
        'recipe (HTTP/1.1, Upgrade + Connection from a map), proxy_read_timeout 3600s, access log off'
      );
    },
    start: ({ port, backendPort }) => nginxCommand(port, backendPort),
    unavailable: () => peerUnavailable('nginx'),
  },
  {
    name: 'haproxy',
    get description() {
      return (
        `${peerVersion('haproxy')} (Debian), nbthread 1 to match nginx's single worker, mode http, ` +
        'timeout tunnel 3600s, no logging, no stats'
      );
    },
    start: ({ port, backendPort }) => haproxyCommand(port, backendPort),
    unavailable: () => peerUnavailable('haproxy'),
  },
];

/** A Node program from servers/ started as `PORT BACKEND_PORT`, tied to the bench's life. */
function nodeServer(file: string, port: number, backendPort: number): ProxyCommand {
  return { command: node, args: [EXIT_WITH_PARENT, server(file), String(port), String(backendPort)] };
}

export interface TargetSelection {
  /** Targets to run, in list order. */
  readonly run: readonly Target[];
  /** Selected targets that cannot run on this machine, with the reason. */
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
}

/** The targets named (all when undefined) split into runnable and skipped; throws on an unknown name. */
export function availableTargets(names: readonly string[] | undefined): TargetSelection {
  for (const name of names ?? []) {
    if (!TARGETS.some((t) => t.name === name))
      throw new Error(`unknown target "${name}" (known: ${TARGETS.map((t) => t.name).join(', ')})`);
  }
  const run: Target[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const target of TARGETS) {
    if (names === undefined ? target.byDefault === false : !names.includes(target.name)) continue;
    const reason = target.unavailable?.();
    if (reason === undefined) run.push(target);
    else skipped.push({ name: target.name, reason });
  }
  return { run, skipped };
}
