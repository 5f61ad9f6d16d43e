/** Why: an import mistake must point at the file and line to fix, the way httpd's own "Syntax error on line N" does. */

import { WstunnelConfigError } from '../errors.ts';

const kApacheBrand: unique symbol = Symbol.for('wstunnel.apache-config-error');

/** Where a directive was written: file name and 1-based line (the first line of a continued directive). */
export interface ConfigPlace {
  readonly file: string;
  readonly line: number;
}

/**
 * An Apache configuration file that cannot be imported, code `ERR_WSTUNNEL_APACHE_CONFIG`.
 * The message reads `site.conf:12: what is wrong. Hint: how to fix it`.
 */
export class ApacheConfigError extends WstunnelConfigError {
  /** The configuration file name, as given to the reader (default `<config>`). */
  readonly file: string;
  /** The 1-based line of the directive at fault. */
  readonly line: number;
  /** Further problems found in the same file, in line order (the message lists them too, one per line). */
  readonly others: readonly ApacheConfigError[] = [];

  constructor(place: ConfigPlace, problem: string, hint: string) {
    super('ERR_WSTUNNEL_APACHE_CONFIG', `${place.file}:${place.line}: ${problem}. Hint: ${hint}`);
    this.name = 'ApacheConfigError';
    this.file = place.file;
    this.line = place.line;
    Object.defineProperty(this, kApacheBrand, { value: true });
  }

  /** `instanceof` recognises errors from another copy of this package, and not other configuration errors. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kApacheBrand in value;
  }
}

/** One error for several problems: the first, with the rest in `others` and in its message, one per line. */
export function allProblems(errors: readonly ApacheConfigError[]): ApacheConfigError {
  const [first, ...rest] = [...errors].sort((a, b) => a.line - b.line);
  if (rest.length === 0) return first!;
  Object.defineProperty(first, 'others', { value: rest });
  first!.message = [first!.message, ...rest.map((error) => error.message)].join('\n');
  return first!;
}

/** Throws an {@link ApacheConfigError}; keeps each check to one line. */
export function fail(place: ConfigPlace, problem: string, hint: string): never {
  throw new ApacheConfigError(place, problem, hint);
}

/** A directive (or worker parameter) the importer read but that changes nothing in wstunnel, and why. */
export interface IgnoredDirective {
  readonly file: string;
  readonly line: number;
  /** The directive as written, or `Directive key=value` for a single worker parameter. */
  readonly directive: string;
  readonly reason: string;
}
