/** Why: `wstunnel --config site.conf` and `fromApacheConfig()` let an Apache mod_proxy_wstunnel site move over unchanged, or fail at the exact line that cannot. */

import type { WstunnelOptions } from '../options.ts';
import { assemble } from './assemble.ts';
import { closeBalancerSection, openBalancerSection } from './balancer.ts';
import { readDirective } from './directive.ts';
import { sectionHint } from './directives.ts';
import { ApacheConfigError, allProblems, fail, type IgnoredDirective } from './error.ts';
import { type LocationState, locationRule, locationScope } from './location.ts';
import { checkBackendUrl, encodeDecodedPath, isBalancerUrl } from './proxy-pass.ts';
import { emptyScope, type ReadContext, type ReadState, type ServerScope } from './scope.ts';
import { type ConfigNode, type ConfigSection, parseConfigTree } from './tokenizer.ts';
import { argumentCount } from './values.ts';

/** Options of {@link readApacheConfig}. */
export interface ReadApacheConfigOptions {
  /** Name used in error messages and notes. Default `<config>`. */
  readonly file?: string;
  /** Directory against which relative `SSLProxy*File` paths are resolved. Default `process.cwd()`. */
  readonly baseDir?: string;
}

/** What {@link readApacheConfig} produces. */
export interface ApacheConfigImport {
  /** Tunnel options: the rules in Apache's evaluation order, and the server-level defaults. */
  readonly options: WstunnelOptions;
  /** The line each rule of `options.rules` was declared on, index for index. */
  readonly ruleLines: readonly number[];
  /** Directives (and worker parameters) that change nothing in wstunnel, with the reason, in line order. */
  readonly ignored: readonly IgnoredDirective[];
}

function walk(state: ReadState, nodes: readonly ConfigNode[], context: ReadContext): void {
  for (const node of nodes) {
    try {
      if (node.kind === 'section') readSection(state, node, context);
      else readDirective(state, node, context);
    } catch (error) {
      // Keep reading: a user fixing a file wants every problem in one run, not one per run.
      if (!(error instanceof ApacheConfigError)) throw error;
      state.errors.push(error);
    }
  }
}

function readSection(state: ReadState, node: ConfigSection, context: ReadContext): void {
  const { name, args, place } = node;
  const lower = name.toLowerCase();
  const written = `<${[name, ...args].join(' ')}>`;
  if (lower === 'ifmodule') {
    argumentCount(args, 1, 1, '<IfModule>', '<IfModule mod_proxy.c>', place);
    if (!args[0]!.startsWith('!')) return walk(state, node.children, context);
    state.ignored.push({
      ...place,
      directive: written,
      reason: 'wstunnel has every module it reads, so this block is skipped',
    });
    return;
  }
  if (context.kind !== 'server') {
    const outer = context.kind === 'location' ? 'Location' : 'Proxy';
    fail(place, `<${name}> cannot occur within <${outer}> section`, `close the <${outer}> first`);
  }
  if (lower === 'virtualhost') {
    if (!context.main)
      fail(place, '<VirtualHost> cannot occur within <VirtualHost> section', 'close the first one first');
    const scope = emptyScope();
    state.vhosts.push({ scope, place, written });
    walk(state, node.children, { kind: 'server', scope, main: false });
  } else if (lower === 'location' || lower === 'locationmatch') {
    const scope = locationScope(name, args, place);
    const location: LocationState = { scope, place, pass: undefined, options: {}, optionPlace: undefined };
    walk(state, node.children, { kind: 'location', scope: context.scope, location });
    const rule = locationRule(location);
    if (rule !== undefined) context.scope.locationRules.push(rule);
    if (!scope.regex && location.optionPlace !== undefined) {
      const path = encodeDecodedPath(scope.path);
      context.scope.locationSettings.push({
        path,
        options: { ...location.options },
        place: location.optionPlace,
      });
    }
  } else if (lower === 'proxy') {
    // <Proxy "balancer://name" key=value...> may carry balancer parameters, applied after its directives (as httpd does).
    const balancer = args[0] !== undefined && isBalancerUrl(args[0]);
    if (!balancer) argumentCount(args, 1, 1, '<Proxy>', '<Proxy ws://backend:port/>', place);
    const url = balancer
      ? openBalancerSection(context.scope, args[0]!, place)
      : args[0] === '*'
        ? undefined
        : checkBackendUrl(args[0]!, '<Proxy>', place);
    walk(state, node.children, { kind: 'proxy', scope: context.scope, url });
    if (balancer) closeBalancerSection(state, context.scope, args, place);
  } else {
    fail(place, `<${name}> sections are not supported`, sectionHint(lower));
  }
}

/**
 * Reads an Apache httpd configuration (a site file: server config, or one `<VirtualHost>`) into wstunnel options,
 * in the order httpd evaluates it: RewriteRule `[P]` rules first, then the `<Location>` ProxyPass rules (the last
 * declared first), then ProxyPass/ProxyPassMatch in order. Throws {@link ApacheConfigError} at the first directive
 * that cannot be imported faithfully; directives that change nothing are listed in `ignored`.
 */
export function readApacheConfig(text: string, options: ReadApacheConfigOptions = {}): ApacheConfigImport {
  const file = options.file ?? '<config>';
  const state: ReadState = { main: emptyScope(), vhosts: [], ignored: [], errors: [] };
  walk(state, parseConfigTree(text, file), { kind: 'server', scope: state.main, main: true });
  if (state.errors.length > 0) throw allProblems(state.errors);
  const vhost = chooseVirtualHost(state);
  for (const scope of [state.main, vhost]) {
    const redirect = scope?.redirects[0];
    if (redirect !== undefined) {
      fail(
        redirect.place,
        'a RewriteRule redirect ([R]) in the server wstunnel runs is not supported: wstunnel only proxies',
        'keep redirects in the server in front of wstunnel; a rule not marked [P] is never proxied (CVE-2024-39573)',
      );
    }
  }
  return assemble(state.main, vhost, state.ignored, options.baseDir ?? process.cwd());
}

/**
 * The `<VirtualHost>` wstunnel runs: the one holding proxy rules. Others (an http-to-https redirect server, say) are
 * noted as ignored; two that both proxy would need routing by host, which wstunnel does not do.
 */
function chooseVirtualHost(state: ReadState): ServerScope | undefined {
  const proxying = state.vhosts.filter(({ scope }) => hasRules(scope));
  if (proxying.length > 1) {
    fail(
      proxying[1]!.place,
      'a second <VirtualHost> with proxy rules: routing by virtual host is not supported',
      'run one wstunnel per virtual host, each with a file holding that <VirtualHost>',
    );
  }
  const chosen = proxying[0] ?? state.vhosts[0];
  for (const vhost of state.vhosts) {
    const reason =
      vhost === chosen
        ? 'its directives are the server configuration; the address to listen on comes from --listen'
        : 'it holds no proxy rules (a redirect or TLS-only server, say), so it is left to the server in front';
    state.ignored.push({ ...vhost.place, directive: vhost.written, reason });
  }
  return chosen?.scope;
}

function hasRules(scope: ServerScope): boolean {
  return scope.passRules.length + scope.locationRules.length + scope.rewriteRules.length > 0;
}

/** The options of {@link readApacheConfig} alone, for `createWstunnel(fromApacheConfig(text))`. */
export function fromApacheConfig(text: string, options: ReadApacheConfigOptions = {}): WstunnelOptions {
  return readApacheConfig(text, options).options;
}
