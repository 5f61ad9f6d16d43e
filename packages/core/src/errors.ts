/** Why: configuration mistakes fail loudly at setup with a stable code; network faults never throw, they become outcomes carrying a TunnelError. */

const kConfigBrand: unique symbol = Symbol.for('wstunnel.config-error');
const kTunnelBrand: unique symbol = Symbol.for('wstunnel.tunnel-error');

/** Codes of {@link WstunnelConfigError}, thrown synchronously for programmer errors. */
export type ConfigErrorCode =
  | 'ERR_WSTUNNEL_INVALID_OPTION'
  | 'ERR_WSTUNNEL_INVALID_TARGET'
  | 'ERR_WSTUNNEL_INVALID_RULE'
  | 'ERR_WSTUNNEL_UNSUPPORTED'
  /** A balancer or member is misconfigured, a rule names an unknown balancer, or a runtime change is invalid. */
  | 'ERR_WSTUNNEL_INVALID_BALANCER'
  /** An Apache configuration file could not be imported; the error carries `file` and `line`. */
  | 'ERR_WSTUNNEL_APACHE_CONFIG';

/** A configuration mistake, thrown when a tunnel, rule table or gateway is created. */
export class WstunnelConfigError extends Error {
  /** Stable machine-readable code. */
  readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string) {
    super(message);
    this.name = 'WstunnelConfigError';
    this.code = code;
    Object.defineProperty(this, kConfigBrand, { value: true });
  }

  /** `instanceof` also recognises errors from another copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kConfigBrand in value;
  }
}

/** Codes of {@link TunnelError}: why a handshake did not become a tunnel, or why a tunnel ended badly. */
export type TunnelErrorCode =
  | 'ERR_WSTUNNEL_BAD_REQUEST'
  | 'ERR_WSTUNNEL_NO_ROUTE'
  | 'ERR_WSTUNNEL_OVERLOADED'
  | 'ERR_WSTUNNEL_DRAINING'
  | 'ERR_WSTUNNEL_CONNECT'
  | 'ERR_WSTUNNEL_CONNECT_TIMEOUT'
  | 'ERR_WSTUNNEL_HANDSHAKE_TIMEOUT'
  | 'ERR_WSTUNNEL_BACKEND_CLOSED'
  | 'ERR_WSTUNNEL_BAD_RESPONSE'
  | 'ERR_WSTUNNEL_CLIENT_GONE'
  | 'ERR_WSTUNNEL_UPGRADE_NOT_ROUTED'
  | 'ERR_WSTUNNEL_ROUTE_FUNCTION'
  /** A balancer had no usable member for the request (503), or its sticky member was unusable with `noFailover`. */
  | 'ERR_WSTUNNEL_NO_MEMBER';

/** A network-level failure. Never thrown at callers: delivered in outcomes and `failed` events. */
export class TunnelError extends Error {
  /** Stable machine-readable code. */
  readonly code: TunnelErrorCode;
  /** The HTTP status written to the client, or `undefined` when nothing could be written. */
  readonly status: number | undefined;

  constructor(code: TunnelErrorCode, status: number | undefined, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TunnelError';
    this.code = code;
    this.status = status;
    Object.defineProperty(this, kTunnelBrand, { value: true });
  }

  /** The same status, under the name Fastify and Koa read. */
  get statusCode(): number | undefined {
    return this.status;
  }

  /**
   * Whether frameworks may show the message to the client: client errors (the http-errors convention), and the
   * setup mistake of a missing upgrade bridge, whose message is the fix.
   */
  get expose(): boolean {
    return (
      (this.status !== undefined && this.status < 500) || this.code === 'ERR_WSTUNNEL_UPGRADE_NOT_ROUTED'
    );
  }

  /** `instanceof` also recognises errors from another copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kTunnelBrand in value;
  }
}

/** Throws a {@link WstunnelConfigError}; keeps validation code to one line per check. */
export function configError(code: ConfigErrorCode, message: string): never {
  throw new WstunnelConfigError(code, message);
}
