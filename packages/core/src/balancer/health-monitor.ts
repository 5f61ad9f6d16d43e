/**
 * Why: mod_proxy_hcheck probes each member on its own interval and flips its `C` flag after `hcfails` failures or
 * `hcpasses` passes in a row; the probes run on unref'd timers, from the tunnel's first use until its close.
 */

import type { Balancer } from './balancer.ts';
import { type ProbeResult, probe, type ResolvedHealthCheck } from './health-check.ts';
import type { Member } from './member.ts';

/** Runs the health checks of every member that has one. */
export class HealthMonitor {
  readonly #balancers: readonly Balancer[];
  readonly #timers = new Map<Member, NodeJS.Timeout>();
  #started = false;
  #stopped = false;

  constructor(balancers: Iterable<Balancer>) {
    this.#balancers = [...balancers];
  }

  /** Starts the checks (once); members added later are checked from when they are added. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const balancer of this.#balancers) {
      balancer.onAdded = (member) => this.#schedule(balancer, member, 0);
      for (const member of balancer.memberStates) this.#schedule(balancer, member, 0);
    }
  }

  /** Stops every check; a probe in flight ends on its own deadline and is ignored. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(balancer: Balancer, member: Member, delay: number): void {
    const check = member.check;
    if (check === undefined || this.#stopped || member.removed) return;
    const timer = setTimeout(async () => {
      this.#timers.delete(member);
      const result = await probe(member.target, check);
      if (this.#stopped || member.removed) return;
      try {
        this.#record(balancer, member, check, result);
      } finally {
        // A throwing 'balancer' listener is the listener's bug; the member's checks must go on regardless.
        this.#schedule(balancer, member, check.interval);
      }
    }, delay);
    timer.unref();
    this.#timers.set(member, timer);
  }

  #record(balancer: Balancer, member: Member, check: ResolvedHealthCheck, result: ProbeResult): void {
    const previous = member.lastHealthCheck;
    member.healthStreak = previous?.ok === result.ok ? member.healthStreak + 1 : 1;
    member.lastHealthCheck = { at: Date.now(), ...result };
    const failed = member.flags.healthFailed === true;
    if (!result.ok && !failed && member.healthStreak >= check.fails)
      balancer.healthChanged(member, true, result.detail);
    else if (result.ok && failed && member.healthStreak >= check.passes)
      balancer.healthChanged(member, false, '');
  }
}
