/** Why: ProxyPass and ProxyPassMatch are the heart of a mod_proxy_wstunnel site file; they are parsed as mod_proxy's add_pass parses them. */

import { splitArguments } from './arguments.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import { readWorkerParameters, type WorkerOptions } from './worker-params.ts';

/** The `<Location>` a ProxyPass is written in: its path, or its regular expression (`<LocationMatch>`, `<Location ~>`). */
export interface LocationScope {
  readonly path: string;
  readonly regex: boolean;
}

/** One ProxyPass or ProxyPassMatch, read. */
export interface PassDirective {
  /** Whether `pattern` is a regular expression (ProxyPassMatch, `ProxyPass ~`) rather than a path prefix. */
  readonly regex: boolean;
  readonly pattern: string;
  /** The backend URL, or `undefined` for an exclusion (`!`). */
  readonly target: string | undefined;
  readonly options: WorkerOptions;
  readonly ignored: readonly IgnoredDirective[];
  /** For a `balancer://` target: its `key=value` words, which httpd reads as balancer parameters. */
  readonly balancerParameters?: readonly string[];
}

const FLAG_HINTS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    nocanon:
      'remove it: wstunnel always forwards the normalised path, and refuses control characters in it (CVE-2023-25690)',
    interpolate: `remove it and write the values out: \${VAR} interpolation is not supported`,
    noquery: "remove it: it only changes FastCGI's SCRIPT_FILENAME, and wstunnel speaks no FastCGI",
  }),
);

/** Whether a target names a balancer (`balancer://name[/path]`). */
export function isBalancerUrl(url: string): boolean {
  return /^balancer:/i.test(url);
}

/** The lower-case name of a `balancer://name[/path]` URL (httpd compares balancer names case-insensitively). */
export function balancerNameOf(url: string): string {
  return /^balancer:\/\/([^/]*)/i.exec(url)?.[1]?.toLowerCase() ?? '';
}

/** Checks a backend URL (`ProxyPass`, `ProxyPassMatch`, `RewriteRule [P]`, `<Proxy>`); returns it unchanged. */
export function checkBackendUrl(url: string, what: string, place: ConfigPlace): string {
  const lower = url.toLowerCase();
  if (isBalancerUrl(url)) {
    const name = /^balancer:\/\/([^/]*)/i.exec(url)?.[1];
    if (name === undefined || !/^[A-Za-z0-9._~-]+$/.test(name)) {
      fail(
        place,
        `${what}: "${url}" must be balancer://name[/path], the name written out in letters, digits, ".", "_", "~" or "-"`,
        'write balancer://mycluster/ (a backreference cannot choose the balancer)',
      );
    }
    if (/[?#]/.test(url))
      fail(place, `${what}: "${url}": a balancer:// target takes no query`, 'remove the query');
    return url;
  }
  if (lower.startsWith('unix:')) {
    fail(
      place,
      `${what}: unix: (Unix domain socket) backends are not supported`,
      'let the backend listen on a TCP port and write ws://127.0.0.1:PORT/',
    );
  }
  if (!/^(?:wss?|https?):\/\/./.test(lower)) {
    fail(
      place,
      `${what}: backend "${url}" must be a ws://, wss://, http:// or https:// URL`,
      'wstunnel speaks HTTP/1.1 and WebSocket to its backends (no ajp://, fcgi://, h2c:// or ftp://)',
    );
  }
  return url;
}

/**
 * Reads `ProxyPass [~] path url|! [key=value...]` or `ProxyPassMatch regex url|! [key=value...]`; inside a
 * `<Location>` the path is omitted and taken from the section.
 */
export function readProxyPass(
  rawArgs: string,
  name: 'ProxyPass' | 'ProxyPassMatch',
  location: LocationScope | undefined,
  place: ConfigPlace,
): PassDirective {
  const words = splitArguments(rawArgs, place);
  const usage = location === undefined ? `${name} /path/ ws://backend:port/` : `${name} ws://backend:port/`;
  let regex = name === 'ProxyPassMatch';
  let at = 0;
  let pattern: string;
  if (location === undefined) {
    if (words[0] === '~') {
      if (regex)
        fail(
          place,
          "ProxyPassMatch invalid syntax ('~' usage)",
          'ProxyPassMatch takes a regular expression already; drop the ~',
        );
      regex = true;
      at = 1;
    }
    const path = words[at++];
    if (path === undefined) fail(place, `${name} needs a path and a backend URL`, `write ${usage}`);
    pattern = path;
  } else {
    // A ProxyPass in <LocationMatch> is a regex rule (httpd appends the whole path to its URL); a ProxyPassMatch in a
    // path <Location> still only applies under that path.
    pattern = location.regex
      ? location.path
      : regex
        ? `^${encodeDecodedPath(location.path).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}${location.path.endsWith('/') ? '' : '(?:/|$)'}`
        : location.path;
    regex ||= location.regex;
  }
  const target = words[at++];
  if (target === undefined) {
    fail(place, `${name} needs a path when not defined in a location`, `write ${usage}`);
  }
  if (location !== undefined && target.startsWith('/')) {
    fail(place, `${name} can not have a path when defined in a location`, `write ${usage}`);
  }
  const parameters: string[] = [];
  for (const word of words.slice(at)) {
    const flag = FLAG_HINTS.get(word.toLowerCase());
    if (flag !== undefined) fail(place, `${name} ${word} is not supported`, flag);
    if (word.toLowerCase().startsWith('mapping=')) {
      fail(
        place,
        `${name} ${word} is not supported`,
        'remove it: wstunnel matches the decoded, normalised path (the default mapping)',
      );
    }
    parameters.push(word);
  }
  if (!regex && !pattern.startsWith('/')) {
    fail(place, `${name} path "${pattern}" must start with /`, `write ${usage}`);
  }
  // httpd compares the path with the decoded request path; wstunnel's rules see it percent-encoded.
  if (!regex) pattern = encodeDecodedPath(pattern);
  if (target === '!') {
    if (parameters.length > 0) fail(place, `an exclusion (${name} ... !) takes no parameters`, 'remove them');
    return { regex, pattern, target: undefined, options: {}, ignored: [] };
  }
  checkBackendUrl(target, name, place);
  if (isBalancerUrl(target))
    return { regex, pattern, target, options: {}, ignored: [], balancerParameters: parameters };
  const { options, ignored } = readWorkerParameters(parameters, name, place);
  return { regex, pattern, target, options, ignored };
}

/** Writes a path as httpd reads it (decoded: `%` is a percent sign) in the percent-encoded form rules match against. */
export function encodeDecodedPath(path: string): string {
  return [...path]
    .map((char) =>
      /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/.test(char)
        ? char
        : [...Buffer.from(char)]
            .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
            .join(''),
    )
    .join('');
}
