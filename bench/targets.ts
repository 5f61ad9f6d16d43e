/** Why: the things compared, as one list; a new proxy is one more entry (and, if it needs one, a program in servers/). */

import { fileURLToPath } from 'node:url';

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
}

/** Request-target the generator upgrades on every target; proxies route the `/ws/` prefix to the backend. */
export const UPGRADE_PATH = '/ws/echo';

const node = process.execPath;
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
    description: 'the wstunnel gateway (@wstunnel/cli), default options, --quiet',
    start: ({ port, backendPort, dist }) => ({
      command: node,
      args: [
        EXIT_WITH_PARENT,
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
];
