/** Why: `--config site.conf` must fail with the file and line of the mistake, before listening, and `--check` must show what will run. */

import {
  ApacheConfigError,
  createWstunnel,
  describeRules,
  type IgnoredDirective,
  WstunnelConfigError,
  type WstunnelOptions,
} from '@wstunnel/core';

/** Where the rules came from, to point an error at its line. */
export interface RuleSource {
  readonly file: string;
  readonly ruleLines: readonly number[];
}

function accepted(options: WstunnelOptions): boolean {
  try {
    createWstunnel(options);
    return true;
  } catch (error) {
    if (error instanceof WstunnelConfigError) return false;
    throw error;
  }
}

/**
 * Builds the tunnel once to validate `options` as the gateway will; when a rule is at fault and `source` is known,
 * rethrows as an {@link ApacheConfigError} at the line of the first rule the table cannot take.
 */
export function checkTunnelOptions(options: WstunnelOptions, source: RuleSource | undefined): void {
  try {
    createWstunnel(options);
  } catch (error) {
    if (
      !(error instanceof WstunnelConfigError) ||
      source === undefined ||
      !accepted({ ...options, rules: [] })
    ) {
      throw error;
    }
    for (let count = 1; count <= options.rules.length; count++) {
      const line = source.ruleLines[count - 1];
      if (line === undefined || accepted({ ...options, rules: options.rules.slice(0, count) })) continue;
      throw new ApacheConfigError(
        { file: source.file, line },
        error.message.replace(/\.$/, ''),
        'rules are numbered in match order, as wstunnel --config FILE --check lists them',
      );
    }
    throw error;
  }
}

/** One line per ignored directive: `site.conf:3: ignored: ServerName example.com (why)`. */
export function ignoredLines(ignored: readonly IgnoredDirective[]): string[] {
  return ignored.map(
    ({ file, line, directive, reason }) => `${file}:${line}: ignored: ${directive} (${reason})`,
  );
}

/** The `--check` report: the rule table in match order, the defaults, and what was ignored. */
export function checkReport(
  options: WstunnelOptions,
  from: string,
  ignored: readonly IgnoredDirective[],
): string {
  const count = options.rules.length;
  return [
    `${from}: ${count} rule${count === 1 ? '' : 's'}, in match order (the first that matches a request wins)`,
    ...describeRules(options),
    ...(ignored.length === 0
      ? []
      : ['Ignored (changes nothing in wstunnel):', ...ignoredLines(ignored).map((l) => `   ${l}`)]),
  ].join('\n');
}
