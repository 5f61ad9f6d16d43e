/** Why: httpd parses flags, seconds and durations in specific ways; each value is checked here, once, with the directive's line. */

import { type ConfigPlace, fail } from './error.ts';

/** An httpd `FLAG` value: `On` or `Off`, case-insensitive. */
export function onOff(value: string | undefined, what: string, place: ConfigPlace): boolean {
  const lower = value?.toLowerCase();
  if (lower === 'on') return true;
  if (lower === 'off') return false;
  return fail(place, `${what} must be On or Off, not "${value ?? ''}"`, `write ${what} On or ${what} Off`);
}

/**
 * A whole number of seconds, at least 1 (httpd `Timeout`, `ProxyTimeout`, worker `timeout=`), in milliseconds.
 * httpd reads these with `atoi`, so `5ms` would silently mean 5 seconds there; here anything but digits is an error.
 */
export function wholeSeconds(value: string, what: string, place: ConfigPlace): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    const lenient = Number.parseInt(value, 10);
    const example = what.endsWith('=') ? `${what}30` : `${what} 30`;
    fail(
      place,
      `${what} must be a whole number of seconds, at least 1, not "${value}"`,
      lenient >= 1
        ? `write whole seconds, like ${example} (httpd would silently read "${value}" as ${lenient} seconds)`
        : `write whole seconds, like ${example}`,
    );
  }
  if (Number(value) > MAX_SECONDS)
    fail(place, `${what} ${value} is longer than wstunnel's longest timeout`, `write at most ${MAX_SECONDS}`);
  return Number(value) * 1000;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, mi: 60_000, h: 3_600_000 };

/** Node timers take at most 2^31-1 ms. */
const MAX_MS = 2_147_483_647;
const MAX_SECONDS = Math.floor(MAX_MS / 1000);

/**
 * httpd's `ap_timeout_parameter_parse`: a whole number with an optional unit `ms`, `s`, `mi` (minutes) or `h`,
 * `defaultUnit` when there is none; at least 1 ms. Returns milliseconds.
 */
export function timeoutParameter(
  value: string,
  defaultUnit: 's' | 'ms',
  what: string,
  place: ConfigPlace,
): number {
  const parsed = /^(\d+)(ms|s|mi|h)?$/.exec(value);
  const ms = parsed === null ? 0 : Number(parsed[1]) * UNITS[parsed[2] ?? defaultUnit]!;
  if (ms < 1) {
    fail(
      place,
      `${what} must be a whole number with an optional unit ms, s, mi or h, at least 1 ms, not "${value}"`,
      `write, for example, ${what}500ms or ${what}5 (${defaultUnit === 's' ? 'seconds' : 'milliseconds'} by default)`,
    );
  }
  if (ms > MAX_MS)
    fail(place, `${what}${value} is longer than wstunnel's longest timeout`, `write at most ${MAX_MS}ms`);
  return ms;
}

/** A whole number of at least 0 (httpd `max=`), or an error naming `what`. */
export function wholeNumber(value: string, what: string, place: ConfigPlace): number {
  if (!/^\d+$/.test(value)) fail(place, `${what} must be a whole number, not "${value}"`, `write ${what}10`);
  return Number(value);
}

/** Checks the argument count of a directive, with httpd's wording. */
export function argumentCount(
  args: readonly string[],
  min: number,
  max: number,
  directive: string,
  usage: string,
  place: ConfigPlace,
): void {
  if (args.length >= min && args.length <= max) return;
  const count =
    min === max ? (min === 1 ? 'one argument' : `${min} arguments`) : `${min} to ${max} arguments`;
  fail(place, `${directive} takes ${count}, found ${args.length}`, `write ${usage}`);
}

/** The single argument of `name`; otherwise an error showing `name usage`. */
export function oneArgument(
  name: string,
  args: readonly string[],
  usage: string,
  place: ConfigPlace,
): string {
  argumentCount(args, 1, 1, name, `${name} ${usage}`, place);
  return args[0]!;
}
