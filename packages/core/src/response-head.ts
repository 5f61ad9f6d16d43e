/**
 * Why: the backend's answer decides whether a connection becomes a tunnel, so its head is parsed strictly here
 * rather than trusted: no CR, NUL or obs-fold is ever relayed (CVE-2026-33523, CVE-2022-37436, CVE-2023-27522).
 */

/** A parsed, validated response head. Header names keep the backend's case; values are trimmed. */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly (readonly [name: string, value: string])[];
}

/** Largest response head accepted from a backend, the same bound as Node's default `maxHeaderSize`. */
export const MAX_RESPONSE_HEAD_BYTES: number = 16 * 1024;

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Index just past the blank line ending a head (CRLF CRLF, or bare LF as RFC 9112 2.2 tolerates), or -1.
 * `from` skips bytes already known not to hold it.
 */
export function findHeadEnd(buffer: Buffer, from = 0): number {
  const crlf = buffer.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buffer.indexOf('\n\n', from, 'latin1');
  if (crlf === -1) return lf === -1 ? -1 : lf + 2;
  return lf !== -1 && lf < crlf ? lf + 2 : crlf + 4;
}

/** Parses the bytes of a head (up to and including its blank line); a string result is the reason it is invalid. */
export function parseResponseHead(head: Buffer): ResponseHead | string {
  const lines = head.toString('latin1').split('\n');
  const statusLine = stripCr(lines[0]!);
  const match = statusLine === undefined ? null : STATUS_LINE.exec(statusLine);
  if (match === null) return 'malformed status line';
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = stripCr(lines[i]!);
    if (line === undefined) return 'bare CR in response head';
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) return 'malformed header line';
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_NAME.test(name)) return `invalid header name ${JSON.stringify(name)}`;
    if (!FIELD_VALUE.test(value)) return `invalid characters in header ${name}`;
    headers.push([name, value]);
  }
  return { status: Number(match[1]), reason: match[2] ?? '', headers };
}

/** All values of a header, by lower-case name. */
export function headerValues(head: ResponseHead, lowerName: string): string[] {
  const values: string[] = [];
  for (const [name, value] of head.headers) if (name.toLowerCase() === lowerName) values.push(value);
  return values;
}

/** Removes the CR of a CRLF line ending; `undefined` when a CR appears anywhere else. */
function stripCr(line: string): string | undefined {
  const cr = line.indexOf('\r');
  if (cr === -1) return line;
  return cr === line.length - 1 ? line.slice(0, -1) : undefined;
}
