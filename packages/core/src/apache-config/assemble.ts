/** Why: Apache's evaluation order (rewrite, then <Location>, then ProxyPass) and its inheritance rules become one ordered rule table here. */

import type { Rule, WstunnelOptions } from '../options.ts';
import { assembleBalancers } from './balancer-assemble.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { idleTimeouts, withIdleTimeout } from './idle-timeout.ts';
import { mergeLocationOptions } from './location-merge.ts';
import type { ServerScope, ServerSettings } from './scope.ts';
import { backendTls } from './ssl-proxy.ts';
import { shareWorkers } from './workers.ts';

/** The merged result: options, the line of each rule (index for index), and the notes. */
export interface AssembledConfig {
  readonly options: WstunnelOptions;
  readonly ruleLines: readonly number[];
  readonly ignored: readonly IgnoredDirective[];
}

function targetOf(rule: Rule): string | undefined {
  return 'target' in rule ? String(rule.target) : undefined;
}

function needsTls(target: string, place: ConfigPlace): never {
  return fail(
    place,
    `the backend ${target} needs TLS, and SSLProxyEngine is not On (httpd answers such requests with 500)`,
    'add SSLProxyEngine On to the server or <VirtualHost>',
  );
}

/** Merges the main server and the virtual host into the rule table Apache would evaluate. */
export function assemble(
  main: ServerScope,
  vhost: ServerScope | undefined,
  ignored: readonly IgnoredDirective[],
  baseDir: string,
): AssembledConfig {
  const notes = [...ignored];
  for (const scope of [main, vhost]) {
    const dangling = scope?.pendingConditions[0];
    if (dangling !== undefined) {
      fail(
        dangling.place,
        'RewriteCond is not followed by a RewriteRule',
        'conditions belong to the next RewriteRule in the same server or <VirtualHost>: add it, or remove the condition',
      );
    }
  }
  const stray = vhost === undefined ? undefined : main.rewriteRules[0];
  if (stray !== undefined) {
    fail(
      stray.place,
      'this RewriteRule is outside the <VirtualHost>, and mod_rewrite does not pass main-server rules on to virtual hosts',
      'move it into the <VirtualHost>',
    );
  }
  const rewriting = vhost ?? main;
  let rewriteRules = rewriting.rewriteRules;
  // A virtual host without its own RewriteEngine inherits the main server's (checked against httpd 2.4.71).
  const engine = vhost?.rewriteEngine ?? main.rewriteEngine;
  if (engine?.value !== true) {
    for (const { place, written } of rewriteRules) {
      notes.push({
        ...place,
        directive: written,
        reason: 'RewriteEngine is not On for this server, so httpd ignores the rule',
      });
    }
    rewriteRules = [];
  }
  const settings: ServerSettings = { ...main.settings, ...vhost?.settings };
  const timeouts = idleTimeouts(settings);
  const mainLocations = main.locationRules.length;
  const locations = mergeLocationOptions(
    [...main.locationRules, ...(vhost?.locationRules ?? [])],
    [...main.locationSettings, ...(vhost?.locationSettings ?? [])],
    rewriteRules.length > 0,
  );
  const shared = shareWorkers(
    { defining: [...locations.rules.slice(0, mainLocations), ...main.passRules], tunings: main.tunings },
    vhost === undefined
      ? undefined
      : { defining: [...locations.rules.slice(mainLocations), ...vhost.passRules], tunings: vhost.tunings },
    rewriteRules,
  );
  notes.push(...locations.notes, ...shared.notes);
  const placed = [
    ...rewriteRules,
    // The last matching <Location> wins, and its ProxyPass is tried before the server's.
    ...[...locations.rules].reverse(),
    ...main.passRules,
    ...(vhost?.passRules ?? []),
  ].map((rule) => shared.resolve(rule));
  const sslProxyEngine = settings.sslProxyEngine?.value === true;
  const checked = placed.map(({ rule, place }) => {
    const target = targetOf(rule);
    if (target !== undefined && /^(?:wss|https):/i.test(target) && !sslProxyEngine) needsTls(target, place);
    return withIdleTimeout(rule, timeouts);
  });
  const balancing = assembleBalancers(
    main.balancing,
    vhost?.balancing,
    checked.map((rule, at) => ({ rule, place: placed[at]!.place })),
    { timeouts, needsTls: sslProxyEngine ? undefined : needsTls },
  );
  notes.push(...balancing.notes);
  const { rules, balancers } = balancing;
  const tls = backendTls(settings, baseDir);
  const options: WstunnelOptions = {
    rules,
    ...(balancers === undefined ? {} : { balancers }),
    ...(settings.fallbackToHttp === undefined ? {} : { fallbackToHttp: settings.fallbackToHttp.value }),
    ...(settings.preserveHost === undefined ? {} : { preserveHost: settings.preserveHost.value }),
    ...(settings.xForwarded === undefined ? {} : { xForwarded: settings.xForwarded.value }),
    ...(timeouts.timeout === undefined ? {} : { timeout: timeouts.timeout }),
    ...(timeouts.idleTimeout === undefined ? {} : { idleTimeout: timeouts.idleTimeout }),
    ...(tls === undefined ? {} : { tls }),
  };
  notes.sort((a, b) => a.line - b.line);
  return { options, ruleLines: placed.map(({ place }) => place.line), ignored: notes };
}
