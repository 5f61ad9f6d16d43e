/** Why: one typed, documented place for every tunable, with Apache's defaults and the reason for each departure. */

import type { SecureContextOptions } from 'node:tls';

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
   * Upgrade tokens this target accepts (Apache `upgrade=`), matched as whole tokens, case-insensitively.
   * Default `['websocket']`. `'*'` accepts any token the client asks for (Apache `upgrade=ANY`, unsafe:
   * it lets clients negotiate `h2c` with the backend). `h2c` is never accepted unless listed.
   */
  readonly upgrade?: readonly string[] | '*';
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
   * disables. A refused handshake's body is then relayed until it has been idle this long. Default 60 000.
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
  /** Most handshakes and tunnels open at once to this target; beyond it the client gets 503 (Apache `max`). Default: unlimited. */
  readonly max?: number;
  /** TLS settings for `wss://`/`https://` targets. */
  readonly tls?: BackendTlsOptions;
}

/** An Apache `ProxyPass "/path/" "ws://backend/"` rule: segment-aware prefix, remainder appended to the target. */
export interface PrefixRule extends TargetOptions {
  /** URL-path prefix, starting with `/`. */
  readonly path: string;
  /** Backend base URL: `ws://`, `wss://`, or `http(s)://` with an `upgrade` list. */
  readonly target: string | URL;
}

/** Options of {@link createWstunnel}. Target options given here are defaults for every rule. */
export interface WstunnelOptions extends TargetOptions {
  /** Ordered rules; the first one that matches a request wins. */
  readonly rules: readonly PrefixRule[];
  /**
   * On drain, end WebSocket tunnels with a 1001 "Going Away" close frame to both sides instead of a bare
   * TCP close. This tracks frame boundaries on every tunnel (a few operations per frame), so it is opt-in.
   * Default `false`.
   */
  readonly closeFrames?: boolean;
}

/** Apache's `Timeout`/`ProxyTimeout` default, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Options after defaults are applied and values validated; what the engine reads on the hot path. */
export interface ResolvedTargetOptions {
  readonly upgrade: readonly string[] | '*';
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
