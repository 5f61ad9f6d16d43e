/** Why: request and response paths strip the same hop-by-hop fields and read the same comma-separated lists (RFC 9110 5.6.1, 7.6.1). */

/** Hop-by-hop fields removed whatever `Connection` says (RFC 9110 7.6.1; Apache ap_proxy_clear_connection). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The lower-cased, trimmed, non-empty items of a comma-separated field, possibly repeated. */
export function commaList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const items: string[] = [];
  for (const item of (typeof value === 'string' ? value : value.join(',')).split(',')) {
    const trimmed = item.trim().toLowerCase();
    if (trimmed !== '') items.push(trimmed);
  }
  return items;
}

/** Field names listed in `Connection`: hop-by-hop for this message (RFC 9110 7.6.1). */
export function connectionNamed(value: string | readonly string[] | undefined): ReadonlySet<string> {
  return new Set(commaList(value));
}
