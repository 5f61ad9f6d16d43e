/** Why: httpd keeps one configuration per server (main, then the virtual host that inherits from it); the importer collects each the same way before merging. */

import type { RewriteCondition, Rule } from '../options.ts';
import { type BalancingScope, emptyBalancing } from './balancer.ts';
import type { ApacheConfigError, ConfigPlace, IgnoredDirective } from './error.ts';
import type { LocationOptions, LocationState } from './location.ts';
import type { WorkerOptions } from './worker-params.ts';

/** A value set by a directive, with where it was set. */
export interface Setting<T> {
  readonly value: T;
  readonly place: ConfigPlace;
}

/** Server-level directives (server config or `<VirtualHost>`); a virtual host's override the main server's. */
export interface ServerSettings {
  fallbackToHttp?: Setting<boolean>;
  preserveHost?: Setting<boolean>;
  xForwarded?: Setting<boolean>;
  /** `ProxyTimeout`, in milliseconds. */
  proxyTimeout?: Setting<number>;
  /** Core `Timeout`, in milliseconds. */
  timeout?: Setting<number>;
  sslProxyEngine?: Setting<boolean>;
  /** `SSLProxyVerify`: `true` for `require`, `false` for `none`. */
  sslProxyVerify?: Setting<boolean>;
  caFile?: Setting<string>;
  machineCertificateFile?: Setting<string>;
  machineChainFile?: Setting<string>;
  checkPeerName?: Setting<boolean>;
  checkPeerCn?: Setting<boolean>;
  checkPeerExpire?: Setting<boolean>;
}

/** A rule with the line it came from. */
export interface PlacedRule {
  readonly rule: Rule;
  readonly place: ConfigPlace;
  /** The directive as written, for notes. */
  readonly written: string;
}

/** The options of one path `<Location>`, with its path as rules match it. */
export interface LocationSettings {
  readonly path: string;
  readonly options: LocationOptions;
  /** Where the first option was set. */
  readonly place: ConfigPlace;
}

/** `<Proxy url>` + `ProxySet`, or `ProxySet url ...`: worker parameters for every rule whose target starts with `url`. */
export interface WorkerTuning {
  readonly url: string;
  readonly options: WorkerOptions;
  readonly place: ConfigPlace;
}

/** Everything one server (main or virtual host) declares. */
export interface ServerScope {
  readonly settings: ServerSettings;
  rewriteEngine: Setting<boolean> | undefined;
  /** RewriteConds waiting for the RewriteRule they belong to. */
  readonly pendingConditions: { readonly condition: RewriteCondition; readonly place: ConfigPlace }[];
  readonly rewriteRules: PlacedRule[];
  /** ProxyPass written in `<Location>` sections, in declaration order. */
  readonly locationRules: PlacedRule[];
  /** Options set in path `<Location>` sections, in declaration order: they reach every ProxyPass under the path. */
  readonly locationSettings: LocationSettings[];
  /** RewriteRule [R] redirects: fine in a server wstunnel does not run (an http-to-https one), refused in the one it does. */
  readonly redirects: { readonly place: ConfigPlace; readonly written: string }[];
  /** Server-level ProxyPass and ProxyPassMatch, in declaration order. */
  readonly passRules: PlacedRule[];
  readonly tunings: WorkerTuning[];
  /** `balancer://` definitions and health-check expressions and templates. */
  readonly balancing: BalancingScope;
}

/** A server scope with nothing declared yet. */
export function emptyScope(): ServerScope {
  return {
    settings: {},
    rewriteEngine: undefined,
    pendingConditions: [],
    rewriteRules: [],
    locationRules: [],
    locationSettings: [],
    redirects: [],
    passRules: [],
    tunings: [],
    balancing: emptyBalancing(),
  };
}

/** Where a directive is being read: a server (main or virtual host), a `<Location>`, or a `<Proxy url>` (`*`: undefined). */
export type ReadContext =
  | { readonly kind: 'server'; readonly scope: ServerScope; readonly main: boolean }
  | { readonly kind: 'location'; readonly scope: ServerScope; readonly location: LocationState }
  | { readonly kind: 'proxy'; readonly scope: ServerScope; readonly url: string | undefined };

/** What the reader accumulates over the whole file. */
export interface ReadState {
  readonly main: ServerScope;
  /** Every `<VirtualHost>`, in file order; the one holding proxy rules is the one wstunnel runs. */
  readonly vhosts: { readonly scope: ServerScope; readonly place: ConfigPlace; readonly written: string }[];
  readonly ignored: IgnoredDirective[];
  /** Problems found so far; the file is read to the end so that all of them are reported at once. */
  readonly errors: ApacheConfigError[];
}
