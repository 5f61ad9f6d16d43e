/** Why: one typed, documented place for every tunable, with Apache's defaults and the reason for each departure. */

import type { SecureContextOptions } from 'node:tls';
import type { BalancerOptions } from './balancer/balancer-options.ts';

/** TLS settings for `wss://` and `https://` backends (Apache `SSLProxy*`). */
export interface BackendTlsOptions {
  /** Trusted CA certificates (PEM). Default: Node's bundled roots. */
  readonly ca?: SecureContextOptions['ca'];
  /** Client certificate chain (PEM) for mutual TLS. */
  readonly cert?: SecureContextOptions['cert'];
  /** Private key (PEM) of the client certificate. */
  readonly key?: SecureContextOptions['key'];
  /** SNI server name and the name checked in the certificate. Default: the target's host name. */
  readonly servername?: string;
  /**
   * Verify the backend certificate. Default `true`: a departure from Apache, whose `SSLProxyVerify`
   * defaults to `none`; unverified TLS to a backend is rarely what a production gateway wants.
   */
  readonly rejectUnauthorized?: boolean;
}

/** Per-target behaviour; set on the tunnel as defaults and overridden per rule (Apache worker `key=value`). */
export interface TargetOptions {
  /**
   * Upgrade tokens this target tunnels (Apache `upgrade=`), matched as whole tokens, case-insensitively.
   * Default `['websocket']` for `ws://`/`wss://` targets and `[]` (plain HTTP only) for `http://`/`https://`.
   * `h2c` is never accepted unless listed. Two special values, as mod_proxy_wstunnel defines them, both unsafe
   * and for testing only: `'NONE'` tunnels every request that asks for an upgrade (`Upgrade` and
   * `Connection: upgrade`) as a WebSocket, whatever protocol it names; `'ANY'` (or `'*'`) tunnels whatever protocol the client asks for,
   * `h2c` included.
   */
  readonly upgrade?: readonly string[] | 'ANY' | 'NONE' | '*';
  /**
   * Proxy requests that are not upgrades, on a `ws://`/`wss://` rule, as plain HTTP to the same backend
   * (Apache `ProxyWebsocketFallbackToProxyHttp On`, what socket.io's long-polling needs). `false`: such
   * requests skip the rule and go on to the next rule, or the next handler. Default `true`.
   */
  readonly fallbackToHttp?: boolean;
  /** Send the client's `Host` to the backend instead of the target's (Apache `ProxyPreserveHost`). Default `false`. */
  readonly preserveHost?: boolean;
  /** Append `X-Forwarded-For`, `-Host` and `-Proto` (Apache `ProxyAddHeaders`). Default `true`. */
  readonly xForwarded?: boolean;
  /**
   * Keep client-supplied `X-Forwarded-*` values and append to them. Default `false`: they are replaced,
   * so a client cannot forge its address (Apache always appends; departure documented).
   */
  readonly trustForwarded?: boolean;
  /** Milliseconds to establish the TCP/TLS connection, then 504 (Apache `connectiontimeout`). Default: `timeout`. */
  readonly connectTimeout?: number;
  /**
   * Deadline in milliseconds for the backend's response head, then 504 (Apache worker `timeout`/`ProxyTimeout`); `0`
   * disables. A refused handshake's body, or a plain response, is then relayed until it has been idle this long.
   * Default 60 000.
   */
  readonly timeout?: number;
  /**
   * Milliseconds with no byte in either direction before an open tunnel is closed; `0` disables.
   * Default: `timeout` (Apache closes idle tunnels after the larger of `Timeout` and the worker `timeout`).
   */
  readonly idleTimeout?: number;
  /** TCP keep-alive initial delay in milliseconds on both sockets (Apache `keepalive=On`), or `false`. Default `false`. */
  readonly keepAlive?: number | false;
  /** Forward a half-close (FIN) to the other side. `false` ends both at the first EOF (Apache `proxy-nohalfclose`). Default `true`. */
  readonly halfClose?: boolean;
  /**
   * Most tunnels, handshakes and plain requests in flight at once to this target; beyond it the client gets 503
   * (Apache `max`). Default: unlimited.
   */
  readonly max?: number;
  /** TLS settings for `wss://`/`https://` targets. */
  readonly tls?: BackendTlsOptions;
}

/** Apache `ProxyPass "/path/" "ws://backend/"`: segment-aware prefix, remainder appended to the target. */
export interface PrefixRule extends TargetOptions {
  /** URL-path prefix, starting with `/`. A run of `/` matches a run of `/` in the request. */
  readonly path: string;
  /** Backend base URL: `ws://`, `wss://`, `http://` or `https://`. */
  readonly target: string | URL;
}

/**
 * Apache `ProxyPassMatch "^/(myApp/ws)$" "ws://backend:9080/$1"`: a regular expression (RE2 syntax, linear time)
 * matched against the request's URL-path; `$0`-`$9` in the target's path and query take the captures,
 * percent-encoded. A target without backreference gets the whole path appended (Apache's default substitution).
 */
export interface MatchRule extends TargetOptions {
  readonly match: string | RegExp;
  readonly target: string | URL;
}

/** Apache `ProxyPass "/path" "!"` or `ProxyPassMatch "regex" "!"`: requests it matches are not proxied by any later rule. */
export type ExcludeRule =
  | { readonly path: string; readonly exclude: true }
  | { readonly match: string | RegExp; readonly exclude: true };

/**
 * One Apache `RewriteCond TestString CondPattern [flags]`. Conditions are ANDed unless `or` is set
 * (Apache `[OR]`: this condition or the next).
 */
export interface RewriteCondition {
  /**
   * What to test, with Apache variables expanded: `%{HTTP:Name}` (a request header), `%{HTTP_HOST}`,
   * `%{HTTP_USER_AGENT}`, `%{HTTP_REFERER}`, `%{HTTP_COOKIE}`, `%{HTTP_ACCEPT}`, `%{REQUEST_METHOD}`,
   * `%{REQUEST_URI}`, `%{QUERY_STRING}`, `%{REMOTE_ADDR}`, `%{REMOTE_PORT}`, `%{HTTPS}`, `%{REQUEST_SCHEME}`,
   * `%{SERVER_PROTOCOL}`; `$1`-`$9` from the rule's pattern; `%1`-`%9` from the last matched condition.
   */
  readonly test: string;
  /**
   * Apache CondPattern: a regular expression (RE2 syntax), or `=text` (equal), `<text`, `>text`, `<=text`, `>=text`
   * (lexicographic); a leading `!` negates. A `RegExp` is used as the regular expression.
   */
  readonly pattern: string | RegExp;
  /** Compare case-insensitively (Apache `[NC]`). */
  readonly nocase?: boolean;
  /** Combine with the next condition by OR instead of AND (Apache `[OR]`). */
  readonly or?: boolean;
}

/**
 * Apache `RewriteCond ...` + `RewriteRule pattern "ws://backend/$1" [P]`: when the conditions hold and `rewrite`
 * matches the URL-path, the request is proxied to `target` with `$N` (pattern captures) and `%N` (last condition
 * captures) substituted, percent-encoded unless `noEscape`.
 */
export interface RewriteRule extends TargetOptions {
  /** The RewriteRule pattern (RE2 syntax), matched against the URL-path (leading `/` included). */
  readonly rewrite: string | RegExp;
  /** The substitution: an absolute `ws://`, `wss://`, `http://` or `https://` URL. */
  readonly target: string;
  readonly conditions?: readonly RewriteCondition[];
  /** Match `rewrite` case-insensitively (Apache `[NC]`). */
  readonly nocase?: boolean;
  /** Insert captures without percent-encoding them (Apache `[NE]`). Unsafe with untrusted paths. */
  readonly noEscape?: boolean;
  /**
   * The client's query string: by default kept when the target has none and replaced when it has one (Apache);
   * `'append'` adds it after the target's (`[QSA]`), `'discard'` drops it (`[QSD]`).
   */
  readonly query?: 'append' | 'discard';
}

/** One entry of the ordered rule table. */
export type Rule = PrefixRule | MatchRule | ExcludeRule | RewriteRule;

/** Options of {@link createWstunnel}. Target options given here are defaults for every rule. */
export interface WstunnelOptions extends TargetOptions {
  /** Ordered rules; the first one that matches a request wins. */
  readonly rules: readonly Rule[];
  /**
   * On drain, end WebSocket tunnels with a 1001 "Going Away" close frame to both sides instead of a bare
   * TCP close. This tracks frame boundaries on every tunnel (a few operations per frame), so it is opt-in.
   * Default `false`.
   */
  readonly closeFrames?: boolean;
  /**
   * Load balancers by name, for `balancer://name[/path]` targets (Apache `<Proxy "balancer://name">` with its
   * `BalancerMember`s and `ProxySet`). A rule on a balancer takes no target options of its own but `fallbackToHttp`:
   * they belong to the members.
   */
  readonly balancers?: Readonly<Record<string, BalancerOptions>>;
}

/** Apache's `Timeout`/`ProxyTimeout` default, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Options after defaults are applied and values validated; what the engine reads on the hot path. */
export interface ResolvedTargetOptions {
  /** Lower-case tokens, `'*'` for any, or `'none'` for Apache `upgrade=NONE`. */
  readonly upgrade: readonly string[] | '*' | 'none';
  readonly fallbackToHttp: boolean;
  readonly preserveHost: boolean;
  readonly xForwarded: boolean;
  readonly trustForwarded: boolean;
  readonly connectTimeout: number;
  readonly timeout: number;
  readonly idleTimeout: number;
  readonly keepAlive: number | false;
  readonly halfClose: boolean;
  readonly max: number;
  readonly tls: BackendTlsOptions;
}
