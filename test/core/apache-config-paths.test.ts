// Why: the Apache importer checked against httpd 2.4.71 on loopback. httpd compares a ProxyPass path with the
// *decoded* request path (r->uri), so the path written in the file is in decoded form; wstunnel's prefix rules
// compare with the normalised, still percent-encoded path. Observed with `ProxyPass /a%20b/ http://B1/enc/` and
// `ProxyPass "/c d/" http://B1/sp/`:
//   GET /a%20b/x   -> Apache 404;                wstunnel B1 `GET /enc/x`
//   GET /a%2520b/x -> Apache B1 `GET /enc/x`;    wstunnel 404
//   GET /c%20d/x   -> Apache B1 `GET /sp/x`;     wstunnel refuses the file ("path must ... hold no whitespace")
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromApacheConfig, RuleTable } from '@wstunnel/core';
import { backendPathOf, plainRequest } from '../helpers/requests.ts';

describe('ProxyPass paths are decoded paths in httpd', () => {
  test('ProxyPass /a%20b/ matches a request for the literal text "%20", not for a space', () => {
    const table = new RuleTable(fromApacheConfig('ProxyPass /a%20b/ http://b/enc/\n').rules);
    assert.equal(backendPathOf(table.route(plainRequest('/a%2520b/x'))), '/enc/x');
    assert.equal(backendPathOf(table.route(plainRequest('/a%20b/x'))), undefined);
  });

  test('a quoted ProxyPass path with a space routes requests for that path', () => {
    const table = new RuleTable(fromApacheConfig('ProxyPass "/c d/" http://b/sp/\n').rules);
    assert.equal(backendPathOf(table.route(plainRequest('/c%20d/x'))), '/sp/x');
  });
});
