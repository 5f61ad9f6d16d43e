/** Why: plain requests a rule proxies as HTTP share the owner's caps, drain and events, and nothing of the tunnel engine. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { chooseBackend, triedMembers } from './backend-choice.ts';
import type { Balancer } from './balancer/balancer.ts';
import type { Member } from './balancer/member.ts';
import { type EngineHost, refuseRequest } from './engine-host.ts';
import { requestInfo } from './events.ts';
import { HttpForwarder, type HttpResult, type PlainHooks } from './http-forward.ts';
import type { RouteDecision } from './rules.ts';
import type { Target } from './target.ts';

/** A decision to proxy as plain HTTP, as `RuleTable.route` returns it. */
export type HttpDecision = Extract<RouteDecision, { kind: 'http' }>;

/** Proxies plain requests through one pooled forwarder per target. */
export class PlainProxy {
  readonly #host: EngineHost;
  /** By connection profile, not by Target: a target function yields a Target per URL, all to a few backends. */
  readonly #forwarders = new Map<string, HttpForwarder>();
  #inFlight = 0;

  constructor(host: EngineHost) {
    this.#host = host;
  }

  /** Requests still waiting for, or receiving, their response. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Proxies `req` as `decision` says; 503 while draining or beyond the target's `max`. */
  proxy(req: IncomingMessage, res: ServerResponse, decision: HttpDecision, hooks?: PlainHooks): void {
    const host = this.#host;
    if (host.closing)
      return refuseRequest(
        host,
        req,
        res,
        'ERR_WSTUNNEL_DRAINING',
        503,
        'the gateway is shutting down',
        hooks,
      );
    const choice = chooseBackend(decision, req, undefined, triedMembers(decision));
    if (!('target' in choice))
      return refuseRequest(host, req, res, 'ERR_WSTUNNEL_NO_MEMBER', choice.status, choice.reason, hooks);
    const { target, backendPath, member } = choice;
    if (!host.acquire(target)) {
      member?.end(0);
      return refuseRequest(
        host,
        req,
        res,
        'ERR_WSTUNNEL_OVERLOADED',
        503,
        'too many connections to this backend',
        hooks,
      );
    }
    const profile = connectionProfile(target);
    let forwarder = this.#forwarders.get(profile);
    if (forwarder === undefined) {
      forwarder = new HttpForwarder(target);
      this.#forwarders.set(profile, forwarder);
    }
    const info = requestInfo(req, `${target.httpOrigin}${backendPath}`, '-');
    this.#inFlight++;
    const started = forwarder.forward(
      req,
      res,
      backendPath,
      (result) => {
        this.#inFlight--;
        host.release(target);
        // A plain request is not retried on another member (its body is gone), but a failure still counts.
        if (member !== undefined) settleMember(decision.balancer!, member, result);
        host.report('proxied', info, result);
      },
      decision.headers,
      hooks,
      choice.cookie,
    );
    // A client that left before its request got here holds no slot: nothing would ever give it back.
    if (!started) {
      this.#inFlight--;
      host.release(target);
      member?.end(0);
    }
  }

  /** Ends the requests still in flight (a drain past its deadline). */
  abort(): void {
    for (const forwarder of this.#forwarders.values()) forwarder.abort();
  }

  /** Closes the pooled backend connections. */
  close(): void {
    for (const forwarder of this.#forwarders.values()) forwarder.close();
  }
}

/** Ends a member's plain request: a connect failure, a timeout (`failontimeout`) or a `failonstatus` status put it in error. */
function settleMember(balancer: Balancer, member: Member, result: HttpResult): void {
  member.end(0);
  const { failure, status } = result;
  if (failure === 'connect') balancer.failed(member, 'connect failed');
  else if (failure === 'timeout' && balancer.config.failOnTimeout) balancer.failed(member, 'timeout');
  else if (failure === undefined && balancer.config.failOnStatus.has(status))
    balancer.failed(member, `status ${status}`);
}

/** TLS settings objects, numbered: targets resolved from the same options share theirs. */
const tlsIds = new WeakMap<object, number>();
let nextTlsId = 0;

/** What a forwarder's pool and timers depend on: targets that agree on it can share one forwarder. */
function connectionProfile(target: Target): string {
  let tls = tlsIds.get(target.tls);
  if (tls === undefined) {
    tls = nextTlsId++;
    tlsIds.set(target.tls, tls);
  }
  return `${target.httpOrigin} ${tls} ${target.timeout} ${target.connectTimeout} ${target.keepAlive}`;
}
