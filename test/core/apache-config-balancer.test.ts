// Why: balancer:// import (mod_proxy_balancer, mod_proxy_hcheck), checked against Apache httpd 2.4.71 (Debian) run on
// loopback with its own config, pid and logs, reading what it parsed from balancer-manager (XML by POST with Referer)
// and what its backends received:
//   <Proxy "balancer://MyCluster/ignored/path"> BalancerMember http://B1/app ; ProxyPass /x balancer://mycluster/y
//     /x/z -> B1 "GET /app/y/z"; /x/z?a=1 -> /app/y/z?a=1; ProxyPassMatch ^/m/(.*)$ balancer://mycluster/$1: /m/q -> /app/q;
//     RewriteRule ^/r/(.*) balancer://mycluster/rw/$1 [P]: /r/q -> /app/rw/q. Names are case-insensitive (the manager
//     lists "balancer://mycluster"); the path in <Proxy balancer://...> is ignored.
//   BalancerMember http://B1/ (trailing slash): /s/x -> "GET //x". Members http://B1 then http://B1/sub, or http://B2/app
//     then http://B2/apple: the second shares the first (AH01150, one member listed). retry=500ms -> retry 500 (seconds); hcinterval=500ms
//     -> 500 ms; status=-S+E -> "Init Ok" (E cleared at start); status=D-DN -> "Init Ok"; status=C -> "HcFl", never used.
//   GET check, member http://B2/app, hcuri=/opt -> "GET /app//opt"; HEAD11, no path, no hcuri -> "HEAD  HTTP/1.1";
//     OPTIONS -> "OPTIONS * HTTP/1.0". A template without hcmethod checks by TCP, and hctemplate= resets what was before.
//   A main-server ProxyPass to a balancer whose members are only in the <VirtualHost> -> 503; a balancer with members
//     in both -> only the main server's members are used. A ProxyHCExpr of the main server is unknown in a vhost.
//   A vhost ProxyPass to a main-server balancer inherits stickysession, nofailover, maxattempts but not lbmethod (the
//     manager shows byrequests); a vhost RewriteRule [P] to it keeps the main server's lbmethod.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import {
  ApacheConfigError,
  type BalancerOptions,
  createWstunnel,
  readApacheConfig,
  type WstunnelOptions,
} from '@wstunnel/core';
import { WebSocket } from 'ws';
import { startEchoBackend } from '../helpers/backends.ts';
import { cleanupAfterEach, listenAttached } from '../helpers/cleanup.ts';
import { openClient, roundTrip } from '../helpers/gateway.ts';

const FILE = 'site.conf';

function read(text: string): WstunnelOptions {
  return readApacheConfig(text, { file: FILE }).options;
}

function balancer(text: string, name = 'c'): BalancerOptions {
  const found = read(text).balancers?.[name];
  assert.ok(found !== undefined, `no balancer ${name}`);
  return found;
}

/** The notes of an import, as `line: directive -- reason`. */
function notes(text: string): string[] {
  return readApacheConfig(text, { file: FILE }).ignored.map(
    ({ line, directive, reason }) => `${line}: ${directive} -- ${reason}`,
  );
}

/** Asserts that importing `text` fails at `line` with a message matching `pattern`. */
function assertFailsAt(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => readApacheConfig(text, { file: FILE }),
    (error: unknown) => {
      assert.ok(error instanceof ApacheConfigError, String(error));
      assert.equal(error.file, FILE);
      assert.equal(error.line, line, error.message);
      assert.ok(error.message.startsWith(`${FILE}:${line}: `), error.message);
      assert.match(error.message, /\. Hint: \S/);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, at) => from + at);
}

/** A balancer `c` with one member carrying `params`, used by a rule. */
function member(params: string, url = 'ws://m1:8080'): BalancerOptions['members'][number] {
  return balancer(
    `<Proxy balancer://c>\n  BalancerMember ${url} ${params}\n</Proxy>\nProxyPass /ws/ balancer://c/\n`,
  ).members[0]!;
}

describe('balancer definitions', () => {
  test('<Proxy "balancer://name"> with BalancerMember and ProxySet, used by a ProxyPass', () => {
    const options = read(
      [
        '<Proxy "balancer://chat">',
        '  BalancerMember "ws://10.0.0.1:8080" route=a',
        '  BalancerMember "ws://10.0.0.2:8080/app" route=b loadfactor=2',
        '  ProxySet lbmethod=bybusyness stickysession=ROUTEID',
        '</Proxy>',
        'ProxyPass "/ws/" "balancer://chat/"',
      ].join('\n'),
    );
    assert.deepStrictEqual(options, {
      rules: [{ path: '/ws/', target: 'balancer://chat/' }],
      balancers: {
        chat: {
          members: [
            { url: 'ws://10.0.0.1:8080', route: 'a' },
            { url: 'ws://10.0.0.2:8080/app', route: 'b', weight: 2 },
          ],
          method: 'bybusyness',
          sticky: { cookie: 'ROUTEID', param: 'ROUTEID' },
        },
      },
    });
  });

  test('names are case-insensitive and lower-cased, in the balancers and in every kind of rule target', () => {
    const text = [
      '<Proxy "balancer://MyCluster/ignored/path">',
      '  BalancerMember "http://127.0.0.1:18011/app"',
      '</Proxy>',
      'ProxyPass "/x" "balancer://mycluster/y"',
      'ProxyPass "/w" "balancer://MYCLUSTER"',
      'ProxyPassMatch "^/m/(.*)$" "Balancer://MyCluster/$1"',
      'RewriteEngine On',
      'RewriteRule "^/r/(.*)" "balancer://myCluster/rw/$1" [P]',
    ].join('\n');
    const options = read(text);
    assert.deepStrictEqual(Object.keys(options.balancers ?? {}), ['mycluster']);
    assert.deepStrictEqual(
      options.rules.map((rule) => ('target' in rule ? rule.target : undefined)),
      [
        'balancer://mycluster/rw/$1',
        'balancer://mycluster/y',
        'balancer://mycluster',
        'balancer://mycluster/$1',
      ],
    );
    assert.deepStrictEqual(notes(text), [
      '1: <Proxy balancer://MyCluster/ignored/path> -- httpd ignores the path of a balancer URL in <Proxy> (checked with httpd 2.4.71)',
    ]);
  });

  test('BalancerMember and ProxySet outside the section name the balancer; a ProxyPass before them defines it', () => {
    const text = [
      'ProxyPass /ws/ balancer://c/',
      'ProxySet balancer://C lbmethod=bytraffic',
      'BalancerMember balancer://c ws://m1:1 route=one',
      'BalancerMember "BALANCER://c/any" "ws://m2:2"',
    ].join('\n');
    assert.deepStrictEqual(balancer(text), {
      members: [{ url: 'ws://m1:1', route: 'one' }, { url: 'ws://m2:2' }],
      method: 'bytraffic',
    });
  });

  test('<Proxy "balancer://c" key=value> parameters apply after the section’s ProxySet, as httpd applies them', () => {
    const text =
      '<Proxy balancer://c lbmethod=bytraffic maxattempts=1>\n  BalancerMember ws://m1\n  ProxySet lbmethod=bybusyness failontimeout=On\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text), {
      members: [{ url: 'ws://m1' }],
      method: 'bytraffic',
      maxAttempts: 1,
      failOnTimeout: true,
    });
  });

  test('worker parameters on a ProxyPass to a balancer are balancer parameters; the last value written wins', () => {
    const text = [
      '<Proxy balancer://c>',
      '  BalancerMember ws://m1',
      '  ProxySet lbmethod=bytraffic nofailover=Off',
      '</Proxy>',
      'ProxyPass / balancer://c/ stickysession=JSESSIONID|jsessionid nofailover=On',
    ].join('\n');
    assert.deepStrictEqual(balancer(text), {
      members: [{ url: 'ws://m1' }],
      method: 'bytraffic',
      sticky: { cookie: 'JSESSIONID', param: 'jsessionid', noFailover: true },
    });
  });

  test('a ProxyPass in a <Location> to a balancer, with ProxyWebsocketFallbackToProxyHttp there', () => {
    const options = read(
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n</Proxy>\n<Location /ws/>\n  ProxyPass balancer://c/ lbmethod=bybusyness\n  ProxyWebsocketFallbackToProxyHttp Off\n</Location>\n',
    );
    assert.deepStrictEqual(options.rules, [{ path: '/ws/', target: 'balancer://c/', fallbackToHttp: false }]);
    assert.equal(options.balancers?.c?.method, 'bybusyness');
  });

  test('a balancer no rule uses is kept for the runtime API; one with no member is left out with a note', () => {
    const text =
      '<Proxy balancer://spare>\n  BalancerMember ws://s1\n</Proxy>\n<Proxy balancer://empty>\n  ProxySet lbmethod=bytraffic\n</Proxy>\nProxyPass /a/ ws://a/\n';
    assert.deepStrictEqual(read(text).balancers, { spare: { members: [{ url: 'ws://s1' }] } });
    assert.deepStrictEqual(notes(text), [
      '4: balancer://empty -- it has no BalancerMember and no rule uses it',
    ]);
  });

  test('a member whose URL starts with an earlier member’s is that member; its parameters are ignored (httpd AH01150)', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1:1 route=a\n  BalancerMember WS://M1:1 route=b\n  BalancerMember ws://m1:1/sub\n  BalancerMember ws://m2/app\n  BalancerMember ws://m2/apple\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text).members, [
      { url: 'ws://m1:1', route: 'a' },
      { url: 'ws://m2/app' },
    ]);
    assert.deepStrictEqual(notes(text), [
      '3: BalancerMember WS://M1:1 route=b -- httpd counts it as the member ws://m1:1 of line 2 (worker sharing), and ignores its parameters (AH01150)',
      '4: BalancerMember ws://m1:1/sub -- httpd counts it as the member ws://m1:1 of line 2 (worker sharing)',
      '6: BalancerMember ws://m2/apple -- httpd counts it as the member ws://m2/app of line 5 (worker sharing)',
    ]);
  });

  test('server timeouts reach the members as they reach rules: idleTimeout is the larger of Timeout and timeout=', () => {
    const text =
      'Timeout 120\nProxyTimeout 30\n<Proxy balancer://c>\n  BalancerMember ws://m1 timeout=10\n  BalancerMember ws://m2\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    const options = read(text);
    assert.equal(options.timeout, 30_000);
    assert.equal(options.idleTimeout, 120_000);
    assert.deepStrictEqual(options.balancers?.c?.members, [
      { url: 'ws://m1', timeout: 10_000, idleTimeout: 120_000 },
      { url: 'ws://m2' },
    ]);
  });

  test('wss:// and https:// members need SSLProxyEngine On, like single backends', () => {
    const text = '<Proxy balancer://c>\n  BalancerMember wss://m1\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assertFailsAt(text, 2, /the backend wss:\/\/m1 needs TLS, and SSLProxyEngine is not On/);
    assert.deepStrictEqual(balancer(`SSLProxyEngine On\n${text}`).members, [{ url: 'wss://m1' }]);
  });
});

describe('balancer parameters', () => {
  const cases: [params: string, expected: Omit<BalancerOptions, 'members'>][] = [
    ['lbmethod=byrequests', { method: 'byrequests' }],
    ['lbmethod=bytraffic', { method: 'bytraffic' }],
    ['lbmethod=bybusyness', { method: 'bybusyness' }],
    ['stickysession=ROUTEID', { sticky: { cookie: 'ROUTEID', param: 'ROUTEID' } }],
    ['stickysession=JSESSIONID|jsessionid', { sticky: { cookie: 'JSESSIONID', param: 'jsessionid' } }],
    ['stickysession=SESSION|', { sticky: { cookie: 'SESSION' } }],
    [
      'stickysession=ROUTEID stickysessionsep=!',
      { sticky: { cookie: 'ROUTEID', param: 'ROUTEID', separator: '!' } },
    ],
    [
      'stickysession=ROUTEID stickysessionsep=Off',
      { sticky: { cookie: 'ROUTEID', param: 'ROUTEID', separator: '' } },
    ],
    [
      'stickysession=ROUTEID nofailover=On',
      { sticky: { cookie: 'ROUTEID', param: 'ROUTEID', noFailover: true } },
    ],
    ['stickysession=ROUTEID nofailover=off', { sticky: { cookie: 'ROUTEID', param: 'ROUTEID' } }],
    ['maxattempts=3', { maxAttempts: 3 }],
    ['maxattempts=0', { maxAttempts: 0 }],
    ['"failonstatus=500, 503"', { failOnStatus: [500, 503] }],
    ['failonstatus=502,504', { failOnStatus: [502, 504] }],
    ['failonstatus=', {}],
    ['failontimeout=On', { failOnTimeout: true }],
    ['failontimeout=Off', { failOnTimeout: false }],
    ['forcerecovery=Off', { forceRecovery: false }],
    ['forcerecovery=on', { forceRecovery: true }],
    [
      'LBMethod=bytraffic STICKYSESSION=ROUTEID',
      { method: 'bytraffic', sticky: { cookie: 'ROUTEID', param: 'ROUTEID' } },
    ],
  ];
  for (const [params, expected] of cases) {
    test(`ProxySet ${params}`, () => {
      const text = `<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet ${params}\n</Proxy>\nProxyPass /ws/ balancer://c/\n`;
      assert.deepStrictEqual(balancer(text), { members: [{ url: 'ws://m1' }], ...expected });
    });
  }

  test('scolonpathdelim, timeout, growth and nonce change nothing in wstunnel, and say why', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet scolonpathdelim=On timeout=5 growth=5 nonce=None\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text), { members: [{ url: 'ws://m1' }] });
    const reasons = notes(text);
    assert.equal(reasons.length, 4);
    assert.match(
      reasons[0]!,
      /^3: ProxySet scolonpathdelim=On -- wstunnel always ends the sticky URL parameter at ";"/,
    );
    assert.match(
      reasons[1]!,
      /^3: ProxySet timeout=5 -- on a balancer, timeout= is how long httpd waits for a free member; wstunnel answers 503 at once/,
    );
    assert.match(reasons[2]!, /^3: ProxySet growth=5 -- wstunnel's runtime API adds members/);
    assert.match(reasons[3]!, /^3: ProxySet nonce=None -- there is no balancer-manager page to protect/);
  });

  test('nofailover and stickysessionsep without stickysession are noted: they only apply to sticky sessions', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet nofailover=On stickysessionsep=!\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text), { members: [{ url: 'ws://m1' }] });
    assert.deepStrictEqual(notes(text), [
      '3: balancer://c stickysessionsep -- it only applies to sticky sessions, and this balancer has no stickysession',
      '3: balancer://c nofailover -- it only applies to sticky sessions, and this balancer has no stickysession',
    ]);
  });

  test('stickysession=|param names no cookie: httpd turns sticky sessions off', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet stickysession=|jsessionid\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text), { members: [{ url: 'ws://m1' }] });
    assert.deepStrictEqual(notes(text), [
      '3: balancer://c stickysession=|jsessionid -- it names no cookie before "|": httpd turns sticky sessions off',
    ]);
  });
});

describe('BalancerMember parameters', () => {
  const cases: [params: string, expected: Record<string, unknown>][] = [
    ['loadfactor=2.25', { weight: 2.25 }],
    ['loadfactor=100', { weight: 100 }],
    ['lbset=2', { lbset: 2 }],
    ['route=node-1', { route: 'node-1' }],
    ['route=', {}],
    ['retry=0', { retry: 0 }],
    ['retry=30', { retry: 30_000 }],
    ['status=+H', { status: { standby: true } }],
    ['status=D', { status: { disabled: true } }],
    ['status=s', { status: { stopped: true } }],
    ['status=+I', { status: { ignoreErrors: true } }],
    ['status=+R', { status: { spare: true } }],
    ['status=+N', { status: { draining: true } }],
    ['status=-S+H', { status: { stopped: false, standby: true } }],
    // httpd keeps the mode of the last + or - for the letters after it: D-DN clears D and N.
    ['status=D-DN', { status: { disabled: false, draining: false } }],
    ['status=+D status=+H', { status: { standby: true } }],
    ['timeout=10', { timeout: 10_000, idleTimeout: 60_000 }],
    ['connectiontimeout=500ms', { connectTimeout: 500 }],
    ['keepalive=On', { keepAlive: 0 }],
    ['upgrade=websocket', { upgrade: ['websocket'] }],
    ['max=5', { max: 5 }],
    ['max=0', {}],
    ['LoadFactor=3 ROUTE=x', { weight: 3, route: 'x' }],
  ];
  for (const [params, expected] of cases) {
    test(`BalancerMember ws://m1:8080 ${params}`, () => {
      assert.deepStrictEqual(member(params), { url: 'ws://m1:8080', ...expected });
    });
  }

  test('the http:// member of a WebSocket balancer carries upgrade=websocket, as in httpd', () => {
    assert.deepStrictEqual(member('upgrade=websocket', 'http://m1:8080'), {
      url: 'http://m1:8080',
      upgrade: ['websocket'],
    });
  });

  test('status=E and pooling parameters change nothing, and are noted', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1 status=+E disablereuse=On\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text).members, [{ url: 'ws://m1' }]);
    const reasons = notes(text);
    assert.match(
      reasons[0]!,
      /^2: BalancerMember status=\+E -- httpd clears the error state \(E\) when it starts/,
    );
    assert.match(reasons[1]!, /^2: BalancerMember disablereuse=On -- tunes Apache's backend connection pool/);
  });
});

describe('health checks (mod_proxy_hcheck)', () => {
  const OK_2XX_3XX = range(200, 399);
  const cases: [params: string, expected: unknown][] = [
    ['hcmethod=TCP', { type: 'tcp' }],
    ['hcmethod=tcp hcinterval=5 hcpasses=2 hcfails=3', { type: 'tcp', interval: 5000, passes: 2, fails: 3 }],
    ['hcmethod=TCP hcinterval=500ms', { type: 'tcp', interval: 500 }],
    [
      'hcmethod=TCP hcinterval=100ms hcpasses=0 hcfails=0',
      { type: 'tcp', interval: 100, passes: 1, fails: 1 },
    ],
    ['hcmethod=GET hcuri=/health', { type: 'http', method: 'GET', path: '/health' }],
    ['hcmethod=GET11 hcuri=/health?full=1', { type: 'http', method: 'GET', path: '/health?full=1' }],
    ['hcmethod=head hcuri=/', { type: 'http', method: 'HEAD', path: '/' }],
    ['hcmethod=HEAD11 hcuri=/ping', { type: 'http', method: 'HEAD', path: '/ping' }],
    ['hcmethod=None', false],
  ];
  for (const [params, expected] of cases) {
    test(`BalancerMember ws://m1:8080 ${params}`, () => {
      assert.deepStrictEqual(member(params).healthCheck, expected);
    });
  }

  test('hc* parameters without hcmethod run no check in httpd: none is imported, with a note', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1 hcinterval=5 hcuri=/x\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text).members, [{ url: 'ws://m1' }]);
    assert.deepStrictEqual(notes(text), [
      '2: BalancerMember ws://m1 hcinterval=5 hcuri=/x -- its hc* parameters do nothing without hcmethod: httpd runs no health check for this member',
    ]);
  });

  test('the check path follows the member path; where httpd would request another target, a note says so', () => {
    const text = [
      '<Proxy balancer://c>',
      '  BalancerMember ws://m1/app hcmethod=GET hcuri=/health',
      '  BalancerMember ws://m2/app hcmethod=GET hcuri=health',
      '  BalancerMember ws://m3 hcmethod=GET',
      '  BalancerMember ws://m4 hcmethod=OPTIONS hcuri=/x',
      '</Proxy>',
      'ProxyPass /ws/ balancer://c/',
    ].join('\n');
    assert.deepStrictEqual(
      balancer(text).members.map((each) => each.healthCheck),
      [
        { type: 'http', method: 'GET', path: '/health' },
        { type: 'http', method: 'GET', path: '/health' },
        { type: 'http', method: 'GET' },
        { type: 'http', method: 'OPTIONS' },
      ],
    );
    assert.deepStrictEqual(
      notes(text).map((line) => line.replace(/ BalancerMember .* -- /, ' ')),
      [
        '2: httpd requests "/app//health" for this check; wstunnel requests "/app/health"',
        '4: httpd requests "" for this check (an empty request target); wstunnel requests "/"',
        '5: httpd sends "OPTIONS *" for this check (hcuri is not used); wstunnel sends OPTIONS to "/"',
      ],
    );
  });

  test('a TCP check sends no request: hcuri and hcexpr are noted as unused', () => {
    const text =
      'ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/}\n<Proxy balancer://c>\n  BalancerMember ws://m1 hcmethod=TCP hcuri=/x hcexpr=ok\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text).members[0]!.healthCheck, { type: 'tcp' });
    assert.match(
      notes(text)[0]!,
      /^3: .* -- a TCP health check sends no request: hcuri and hcexpr are not used$/,
    );
  });

  const expressions: [expr: string, expected: Record<string, unknown>][] = [
    ['{%{REQUEST_STATUS} =~ /^[234]/}', { expectStatus: range(200, 499) }],
    ['{%{REQUEST_STATUS} =~ /^[23]/}', { expectStatus: OK_2XX_3XX }],
    ['"%{REQUEST_STATUS} =~ /^2/"', { expectStatus: range(200, 299) }],
    ['{%{REQUEST_STATUS} !~ /^5/}', { expectStatus: range(100, 499) }],
    ['{%{REQUEST_STATUS} -eq 200}', { expectStatus: [200] }],
    ["{%{REQUEST_STATUS} == '204'}", { expectStatus: [204] }],
    [
      '{%{REQUEST_STATUS} -ge 200 && %{REQUEST_STATUS} -lt 300 && %{REQUEST_STATUS} != 204}',
      { expectStatus: range(200, 299).filter((code) => code !== 204) },
    ],
    ["{%{REQUEST_STATUS} in {'200', '204'}}", { expectStatus: [200, 204] }],
    ['{%{request_status} =~ m#^30[12]#}', { expectStatus: [301, 302] }],
    ["{hc('body') =~ /OK/}", { expectStatus: range(100, 599), expectBody: /OK/ }],
    [
      "{hc('body') !~ /Under maintenance/i}",
      { expectStatus: range(100, 599), rejectBody: /Under maintenance/i },
    ],
    [
      '{(%{REQUEST_STATUS} =~ /^2/) && hc("body") =~ /ready/ && hc(\'body\') !~ /draining/}',
      { expectStatus: range(200, 299), expectBody: /ready/, rejectBody: /draining/ },
    ],
  ];
  for (const [expr, expected] of expressions) {
    test(`ProxyHCExpr e ${expr}`, () => {
      const text = `ProxyHCExpr e ${expr}\n<Proxy balancer://c>\n  BalancerMember ws://m1 hcmethod=GET hcexpr=E\n</Proxy>\nProxyPass /ws/ balancer://c/\n`;
      assert.deepStrictEqual(balancer(text).members[0]!.healthCheck, {
        type: 'http',
        method: 'GET',
        ...expected,
      });
    });
  }

  test('ProxyHCTemplate: without hcmethod it checks by TCP; it replaces what was written before it; later values win', () => {
    const text = [
      'ProxyHCTemplate tpl hcinterval=5 hcuri=/t',
      'ProxyHCTemplate tpl2 hcmethod=GET hcfails=4',
      '<Proxy balancer://c>',
      '  BalancerMember ws://m1 hctemplate=tpl',
      '  BalancerMember ws://m2 hcmethod=HEAD hcpasses=3 hctemplate=TPL2',
      '  BalancerMember ws://m3 hctemplate=tpl2 hcpasses=3 hcuri=/own',
      '</Proxy>',
      'ProxyPass /ws/ balancer://c/',
    ].join('\n');
    assert.deepStrictEqual(
      balancer(text).members.map((each) => each.healthCheck),
      [
        { type: 'tcp', interval: 5000 },
        { type: 'http', method: 'GET', fails: 4 },
        { type: 'http', method: 'GET', path: '/own', passes: 3, fails: 4 },
      ],
    );
  });

  test('a ProxyHCTemplate carries its hcexpr', () => {
    const text =
      "ProxyHCExpr up {hc('body') =~ /up/}\nProxyHCTemplate web hcmethod=GET hcuri=/status hcexpr=up\n<Proxy balancer://c>\n  BalancerMember ws://m1 hctemplate=web\n</Proxy>\nProxyPass /ws/ balancer://c/\n";
    assert.deepStrictEqual(balancer(text).members[0]!.healthCheck, {
      type: 'http',
      method: 'GET',
      path: '/status',
      expectStatus: range(100, 599),
      expectBody: /up/,
    });
  });
});

describe('what cannot be imported fails at its line', () => {
  /** `<Proxy balancer://c>` (line 1) with `line2`, closed, and used by a ProxyPass. */
  const inSection = (line2: string): string =>
    `<Proxy balancer://c>\n${line2}\n</Proxy>\nProxyPass /ws/ balancer://c/\n`;
  const member2 = (params: string): string => inSection(`  BalancerMember ws://m1 ${params}`);
  const cases: [name: string, config: string, line: number, message: RegExp][] = [
    // Rules and balancers.
    [
      'ProxyPass to a balancer with no member',
      'ProxyPass /a/ ws://a/\nProxyPass /ws/ balancer://nobody/',
      2,
      /balancer:\/\/nobody has no BalancerMember: httpd answers 503/,
    ],
    [
      'RewriteRule [P] to a balancer defined nowhere',
      'RewriteEngine On\nRewriteRule ^/(.*) balancer://nowhere/$1 [P]',
      2,
      /balancer:\/\/nowhere has no BalancerMember \(it is defined nowhere\)/,
    ],
    [
      'a backreference in the balancer name',
      'RewriteEngine On\nRewriteRule ^/(\\w+)/(.*) balancer://$1/$2 [P]',
      2,
      /must be balancer:\/\/name\[\/path\], the name written out/,
    ],
    [
      'a balancer name with a character a host name cannot hold',
      'ProxyPass /ws/ balancer://my_cluster!/',
      1,
      /the name written out in letters, digits/,
    ],
    [
      'a query in a balancer target',
      '<Proxy balancer://c>\nBalancerMember ws://m\n</Proxy>\nProxyPassMatch ^/(.*)$ balancer://c/x?y=$1',
      4,
      /a balancer:\/\/ target takes no query/,
    ],
    [
      '<Proxy balancer://> without a name',
      '<Proxy balancer://>\n</Proxy>',
      1,
      /must be balancer:\/\/name\[\/path\]/,
    ],
    [
      'ProxyPreserveHost in the <Location> of a balancer rule',
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n</Proxy>\n<Location /ws/>\n  ProxyPass balancer://c/\n  ProxyPreserveHost On\n</Location>',
      5,
      /ProxyPreserveHost in a <Location> cannot reach a balancer:\/\/ rule/,
    ],
    [
      'ProxySet naming a balancer not defined yet',
      'ProxySet balancer://nope lbmethod=bybusyness\n<Proxy balancer://nope>\n</Proxy>',
      1,
      /ProxySet can not find 'balancer:\/\/nope' Balancer/,
    ],
    // Balancer parameters.
    [
      'lbmethod=heartbeat',
      member2('') + 'ProxySet balancer://c lbmethod=heartbeat',
      5,
      /lbmethod=heartbeat is not supported: it reads the load mod_heartmonitor collects/,
    ],
    [
      'lbmethod in upper case (httpd: unknown lbmethod)',
      'ProxyPass /ws/ balancer://c/ lbmethod=BYREQUESTS',
      1,
      /unknown lbmethod "BYREQUESTS"/,
    ],
    [
      'a worker parameter on a ProxyPass to a balancer',
      'ProxyPass /ws/ balancer://c/ upgrade=websocket',
      1,
      /unknown Balancer parameter "upgrade": it is a member parameter\. Hint: write upgrade= on each BalancerMember/,
    ],
    [
      'an unknown parameter in a balancer ProxySet',
      inSection('  ProxySet bogus=1'),
      2,
      /unknown Balancer parameter "bogus"\. Hint: balancer parameters: lbmethod/,
    ],
    [
      'a ProxySet parameter without =',
      inSection('  ProxySet bybusyness'),
      2,
      /invalid ProxySet parameter "bybusyness"/,
    ],
    [
      'stickysessionsep of two characters',
      inSection('  ProxySet stickysessionsep=ab'),
      2,
      /stickysessionsep must be a single character or Off/,
    ],
    [
      'stickysession that is no cookie name',
      inSection('  BalancerMember ws://m1\n  ProxySet "stickysession=a b"'),
      3,
      /stickysession=a b: "a b" is not a cookie or parameter name/,
    ],
    [
      'failonstatus=600',
      inSection('  ProxySet failonstatus=500,600'),
      2,
      /failonstatus must be one or more HTTP response codes\. Hint: "600" is not one/,
    ],
    ['nofailover=yes', inSection('  ProxySet nofailover=yes'), 2, /nofailover= must be On or Off, not "yes"/],
    [
      'maxattempts=-1',
      inSection('  ProxySet maxattempts=-1'),
      2,
      /maxattempts= must be a whole number, not "-1"/,
    ],
    [
      'balancer timeout=0',
      'ProxyPass /ws/ balancer://c/ timeout=0',
      1,
      /timeout must be at least one second/,
    ],
    ['growth=0', 'ProxyPass /ws/ balancer://c/ growth=0', 1, /growth must be between 1 and 100/],
    // Members.
    [
      'a member URL with a trailing slash',
      inSection('  BalancerMember http://m1:80/app/'),
      2,
      /BalancerMember http:\/\/m1:80\/app\/: remove the trailing "\/"\. Hint: .*"\/app\/\/x" .*write BalancerMember http:\/\/m1:80\/app$/,
    ],
    [
      'a member URL with a query',
      inSection('  BalancerMember ws://m1/app?x'),
      2,
      /a member URL takes no query/,
    ],
    [
      'an ajp:// member',
      inSection('  BalancerMember ajp://m1:8009'),
      2,
      /BalancerMember: backend "ajp:\/\/m1:8009" must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/,
    ],
    [
      'a balancer as a member',
      inSection('  BalancerMember balancer://other'),
      2,
      /a member is a backend, not a balancer/,
    ],
    [
      'a balancer name in the <Proxy> section',
      inSection('  BalancerMember balancer://c ws://m1'),
      2,
      /BalancerMember can not have a balancer name when defined in <Proxy "balancer:\/\/\.\.\.">/,
    ],
    [
      'BalancerMember in a <Location>',
      '<Location /ws/>\n  BalancerMember balancer://c ws://m1\n</Location>',
      2,
      /BalancerMember not allowed in <Location>/,
    ],
    [
      'BalancerMember in a worker <Proxy>',
      '<Proxy ws://b/>\n  BalancerMember ws://m1\n</Proxy>',
      2,
      /BalancerMember in a <Proxy> section that is not a balancer/,
    ],
    [
      'a second URL outside <Proxy>',
      'BalancerMember balancer://c ws://m1 ws://m2',
      1,
      /Invalid BalancerMember parameter "ws:\/\/m2"/,
    ],
    [
      'loadfactor=0.5',
      member2('loadfactor=0.5'),
      2,
      /LoadFactor must be a number between 1\.\.100, not "0\.5"/,
    ],
    ['loadfactor=abc', member2('loadfactor=abc'), 2, /LoadFactor must be a number between 1\.\.100/],
    ['lbset=100', member2('lbset=100'), 2, /lbset must be between 0 and 99, not "100"/],
    [
      'a route of 64 characters',
      member2(`route=${'r'.repeat(64)}`),
      2,
      /a route must be 1-63 token characters/,
    ],
    ['status=+X', member2('status=+X'), 2, /status=\+X: Unknown status parameter option/],
    [
      'status=+ (httpd: unknown option)',
      member2('status=+'),
      2,
      /status=\+: Unknown status parameter option/,
    ],
    [
      'status=C',
      member2('status=C'),
      2,
      /a failed health check \(C\) cannot be set in the configuration\. Hint: .*status=\+D/,
    ],
    ['status=+O', member2('status=+O'), 2, /O is a state httpd keeps for itself/],
    [
      'retry=500ms (httpd: 500 seconds)',
      member2('retry=500ms'),
      2,
      /retry= must be a whole number of seconds, not "500ms"\. Hint: write whole seconds: httpd would read "500ms" as 500 seconds/,
    ],
    ['redirect=', member2('redirect=r2'), 2, /BalancerMember redirect= is not supported.*Hint: .*status=\+N/],
    [
      'a balancer parameter on a member',
      member2('stickysession=ROUTEID'),
      2,
      /stickysession= is a balancer parameter, not a BalancerMember one/,
    ],
    [
      'an unknown member parameter lists the known ones',
      member2('colour=blue'),
      2,
      /unknown BalancerMember parameter "colour"\. Hint: known keys: .*loadfactor.*hcmethod/,
    ],
    ['a worker parameter value', member2('timeout=5s'), 2, /timeout= must be a whole number of seconds/],
    // Health checks.
    [
      'hcinterval under 100 ms',
      member2('hcmethod=TCP hcinterval=50ms'),
      2,
      /Interval must be a positive value greater than 100ms/,
    ],
    ['hcmethod=CPING', member2('hcmethod=CPING'), 2, /Health check method CPING not \(yet\) implemented/],
    ['an unknown hcmethod', member2('hcmethod=POST'), 2, /hcmethod=POST: unknown method/],
    [
      'hcpasses above 100',
      member2('hcmethod=TCP hcpasses=101'),
      2,
      /hcpasses=101: wstunnel counts at most 100/,
    ],
    [
      'an hcexpr defined nowhere',
      member2('hcmethod=GET hcexpr=nope'),
      2,
      /Unknown health check condition expr: nope/,
    ],
    ['an hctemplate defined nowhere', member2('hctemplate=nope'), 2, /Unknown ProxyHCTemplate name: nope/],
    [
      'an hcuri wstunnel cannot send',
      member2('hcmethod=GET "hcuri=/a b"'),
      2,
      /hcuri=\/a b: the health-check path must hold visible ASCII characters only/,
    ],
    [
      'ProxyHCTemplate with a worker parameter',
      'ProxyHCTemplate t timeout=5',
      1,
      /ProxyHCTemplate: unknown Worker hcheck parameter timeout=5/,
    ],
    ['ProxyHCTemplate without a name', 'ProxyHCTemplate', 1, /Missing template name for ProxyHCTemplate/],
    [
      'ProxyHCExpr on another variable',
      "ProxyHCExpr m {%{REQUEST_METHOD} == 'GET'}",
      1,
      /ProxyHCExpr m \{%\{REQUEST_METHOD\} == 'GET'\} cannot be imported: "REQUEST_METHOD" is not %\{REQUEST_STATUS\} or hc\('body'\)/,
    ],
    [
      'ProxyHCExpr with ||',
      'ProxyHCExpr o {%{REQUEST_STATUS} -eq 200 || %{REQUEST_STATUS} -eq 204}',
      1,
      /cannot be imported: \|\| is not supported/,
    ],
    [
      'ProxyHCExpr with a negation',
      'ProxyHCExpr n {!(%{REQUEST_STATUS} =~ /^5/)}',
      1,
      /cannot be imported: "!" is not %\{REQUEST_STATUS\}/,
    ],
    [
      'ProxyHCExpr testing the body twice',
      "ProxyHCExpr b {hc('body') =~ /a/ && hc('body') =~ /b/}",
      1,
      /two hc\('body'\) =~ tests/,
    ],
    [
      'ProxyHCExpr no status passes',
      'ProxyHCExpr z {%{REQUEST_STATUS} -lt 100}',
      1,
      /no status from 100 to 599 passes it/,
    ],
    [
      'ProxyHCExpr with a bad regex',
      'ProxyHCExpr r {%{REQUEST_STATUS} =~ /(/}',
      1,
      /the regular expression \/\(\/ is not valid here/,
    ],
    [
      'ProxyHCExpr with an unclosed brace',
      'ProxyHCExpr u {%{REQUEST_STATUS} =~ /^2/',
      1,
      /ProxyHCExpr u: the \{ of the expression is not closed/,
    ],
    [
      'ProxyHCExpr without an expression',
      'ProxyHCExpr lonely',
      1,
      /Missing expression for ProxyHCExpr lonely/,
    ],
    [
      'ProxyHCExpr unquoted (httpd reads one word)',
      'ProxyHCExpr w %{REQUEST_STATUS} =~ /^2/',
      1,
      /ProxyHCExpr w: extra parameter\(s\) "=~ \/\^2\/"/,
    ],
    // Route cookie.
    [
      'a route cookie written with another separator than the balancer reads',
      'Header add Set-Cookie "ROUTEID=!%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED\n' +
        member2('route=1') +
        'ProxySet balancer://c stickysession=ROUTEID',
      1,
      /the route cookie is written as ROUTEID=!route, but balancer:\/\/c reads ROUTEID=anything\.route/,
    ],
    [
      'any other Header line',
      'Header set X-Frame-Options DENY',
      1,
      /Header \(response header editing\) is not supported/,
    ],
    ['BalancerInherit Off', 'BalancerInherit Off', 1, /BalancerInherit Off is not supported/],
    ['ProxyPassInherit Off', 'ProxyPassInherit Off', 1, /ProxyPassInherit Off is not supported/],
    [
      'SetHandler balancer-manager',
      '<Location /balancer-manager>\n  SetHandler balancer-manager\n</Location>',
      2,
      /SetHandler is not supported: wstunnel serves no handler \(balancer-manager/,
    ],
    // Servers.
    [
      'a <VirtualHost> adding members to a balancer of the main server',
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n</Proxy>\n<VirtualHost *:80>\n  BalancerMember balancer://c ws://m2\n  ProxyPass /ws/ balancer://c/\n</VirtualHost>',
      5,
      /balancer:\/\/c is also named in the main server \(line 1\): httpd keeps the main server's members and drops the <VirtualHost>'s/,
    ],
    [
      'a main-server rule to a balancer whose members are in the <VirtualHost> (httpd: 503)',
      'ProxyPass /mv/ balancer://vb/\n<VirtualHost *:80>\n  BalancerMember balancer://vb ws://m1\n  ProxyPass /ws/ ws://b/\n</VirtualHost>',
      3,
      /balancer:\/\/vb is also named in the main server \(line 1\)/,
    ],
    [
      'a ProxyHCExpr of the main server used in a <VirtualHost> (httpd does not pass it on)',
      'ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/}\n<VirtualHost *:80>\n  BalancerMember balancer://v ws://m1 hcmethod=GET hcexpr=ok\n  ProxyPass /ws/ balancer://v/\n</VirtualHost>',
      3,
      /Unknown health check condition expr: ok/,
    ],
  ];
  for (const [name, config, line, message] of cases) {
    test(`${name} (line ${line})`, () => assertFailsAt(config, line, message));
  }

  test('every problem of a file is reported at once, in line order', () => {
    const text =
      member2('loadfactor=0') +
      'ProxyPass /x/ balancer://c/ lbmethod=heartbeat\nBalancerMember balancer://c ws://m2/\n';
    assert.throws(
      () => readApacheConfig(text, { file: FILE }),
      (error: unknown) => {
        assert.ok(error instanceof ApacheConfigError);
        assert.deepStrictEqual([error.line, ...error.others.map((other) => other.line)], [2, 5, 6]);
        return true;
      },
    );
  });
});

describe('the examples of the httpd manual', () => {
  test('mod_proxy_balancer: "Example of a balancer configuration"', () => {
    const text = `<Proxy "balancer://mycluster">
    BalancerMember "http://192.168.1.50:80"
    BalancerMember "http://192.168.1.51:80"
</Proxy>
ProxyPass        "/test" "balancer://mycluster"
ProxyPassReverse "/test" "balancer://mycluster"
`;
    assert.deepStrictEqual(read(text), {
      rules: [{ path: '/test', target: 'balancer://mycluster' }],
      balancers: {
        mycluster: { members: [{ url: 'http://192.168.1.50:80' }, { url: 'http://192.168.1.51:80' }] },
      },
    });
  });

  test('mod_proxy_balancer: stickiness with mod_headers (stickysession=ROUTEID and the route cookie)', () => {
    const text = `Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
<Proxy "balancer://mycluster">
    BalancerMember "http://192.168.1.50:80" route=1
    BalancerMember "http://192.168.1.51:80" route=2
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass        "/test" "balancer://mycluster"
ProxyPassReverse "/test" "balancer://mycluster"
`;
    assert.deepStrictEqual(read(text).balancers, {
      mycluster: {
        members: [
          { url: 'http://192.168.1.50:80', route: '1' },
          { url: 'http://192.168.1.51:80', route: '2' },
        ],
        sticky: { cookie: 'ROUTEID', param: 'ROUTEID', setCookie: 'path=/' },
      },
    });
    assert.deepStrictEqual(
      notes(text).map((line) => line.split(' -- ')[0]),
      ['8: ProxyPassReverse "/test" "balancer://mycluster"'],
    );
  });

  test('the route-cookie Header in a balancer’s <Proxy> applies to that balancer only; "always set" works too', () => {
    const text = [
      '<Proxy balancer://a>',
      '  BalancerMember ws://a1 route=1',
      '  ProxySet stickysession=ROUTEID',
      '  Header always set Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; Path=/a; Secure" env=BALANCER_ROUTE_CHANGED',
      '</Proxy>',
      '<Proxy balancer://b>',
      '  BalancerMember ws://b1 route=1',
      '  ProxySet stickysession=ROUTEID',
      '</Proxy>',
      'ProxyPass /a/ balancer://a/',
      'ProxyPass /b/ balancer://b/',
    ].join('\n');
    const options = read(text);
    assert.deepStrictEqual(options.balancers?.a?.sticky, {
      cookie: 'ROUTEID',
      param: 'ROUTEID',
      setCookie: 'Path=/a; Secure',
    });
    assert.deepStrictEqual(options.balancers?.b?.sticky, { cookie: 'ROUTEID', param: 'ROUTEID' });
  });

  test('a route-cookie Header no balancer reads is noted', () => {
    const text =
      'Header always set Set-Cookie "SERVERID=.%{BALANCER_WORKER_ROUTE}e" env=BALANCER_ROUTE_CHANGED\n<Proxy balancer://c>\n  BalancerMember ws://m1\n</Proxy>\nProxyPass /ws/ balancer://c/\n';
    assert.deepStrictEqual(balancer(text), { members: [{ url: 'ws://m1' }] });
    assert.match(
      notes(text)[0]!,
      /^1: .* -- no balancer has stickysession=SERVERID, so no route cookie is sent$/,
    );
  });

  test('mod_proxy: ProxyPass with balancer parameters (the manual’s ajp:// members refused, http:// imported)', () => {
    const manual = `<Proxy "balancer://mycluster">
    BalancerMember "ajp://1.2.3.4:8009"
    BalancerMember "ajp://1.2.3.5:8009" loadfactor=20
    # Less powerful server, don't send as many requests there,
    BalancerMember "ajp://1.2.3.6:8009" loadfactor=5
</Proxy>
ProxyPass "/special-area" "http://special.example.com" smax=5 max=10
ProxyPass "/" "balancer://mycluster/" stickysession=JSESSIONID|jsessionid nofailover=On
`;
    assert.throws(
      () => read(manual),
      (error: unknown) =>
        error instanceof ApacheConfigError &&
        [error.line, ...error.others.map((other) => other.line)].join() === '2,3,5',
    );
    assert.deepStrictEqual(read(manual.replaceAll('ajp://', 'http://')), {
      rules: [
        { path: '/special-area', target: 'http://special.example.com', max: 10 },
        { path: '/', target: 'balancer://mycluster/' },
      ],
      balancers: {
        mycluster: {
          members: [
            { url: 'http://1.2.3.4:8009' },
            { url: 'http://1.2.3.5:8009', weight: 20 },
            { url: 'http://1.2.3.6:8009', weight: 5 },
          ],
          sticky: { cookie: 'JSESSIONID', param: 'jsessionid', noFailover: true },
        },
      },
    });
  });

  test('mod_proxy: a hot standby (status=+H) with lbmethod=bytraffic and loadfactor=2.25', () => {
    const text = `ProxyPass "/" "balancer://hotcluster/"
<Proxy "balancer://hotcluster">
    BalancerMember "http://1.2.3.4:8009" loadfactor=1
    BalancerMember "http://1.2.3.5:8009" loadfactor=2.25
    # The server below is on hot standby
    BalancerMember "http://1.2.3.6:8009" status=+H
    ProxySet lbmethod=bytraffic
</Proxy>
`;
    assert.deepStrictEqual(balancer(text, 'hotcluster'), {
      members: [
        { url: 'http://1.2.3.4:8009', weight: 1 },
        { url: 'http://1.2.3.5:8009', weight: 2.25 },
        { url: 'http://1.2.3.6:8009', status: { standby: true } },
      ],
      method: 'bytraffic',
    });
  });

  test('mod_proxy: hot spares (status=+R) and load-balancer sets (lbset)', () => {
    const text = `ProxyPass "/" "balancer://sparecluster/"
<Proxy balancer://sparecluster>
    BalancerMember http://1.2.3.4:8009
    BalancerMember http://1.2.3.5:8009
    # The servers below are hot spares. For each server that is unusable, a hot spare
    # will be used in its place.
    BalancerMember http://1.2.3.6:8009 status=+R
    BalancerMember http://1.2.3.7:8009 status=+R
    # Used only when none of the above is usable.
    BalancerMember http://10.0.0.1:8009 lbset=1
</Proxy>
`;
    assert.deepStrictEqual(balancer(text, 'sparecluster').members, [
      { url: 'http://1.2.3.4:8009' },
      { url: 'http://1.2.3.5:8009' },
      { url: 'http://1.2.3.6:8009', status: { spare: true } },
      { url: 'http://1.2.3.7:8009', status: { spare: true } },
      { url: 'http://10.0.0.1:8009', lbset: 1 },
    ]);
  });

  test('mod_proxy_hcheck: the usage example (trailing slashes refused at each member, then imported without)', () => {
    const manual = `ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}
ProxyHCExpr gdown {%{REQUEST_STATUS} =~ /^[5]/}
ProxyHCExpr in_maint {hc('body') !~ /Under maintenance/}

<Proxy balancer://foo>
  BalancerMember http://www.example.com/  hcmethod=GET hcexpr=in_maint hcuri=/status.php
  BalancerMember http://www2.example.com/ hcmethod=HEAD hcexpr=ok234 hcinterval=10
  BalancerMember http://www3.example.com/ hcmethod=TCP hcinterval=5 hcpasses=2 hcfails=3
  BalancerMember http://www4.example.com/
</Proxy>

ProxyPass "/" "balancer://foo"
ProxyPassReverse "/" "balancer://foo"
`;
    assert.throws(
      () => read(manual),
      (error: unknown) =>
        error instanceof ApacheConfigError &&
        /remove the trailing "\/"/.test(error.message) &&
        [error.line, ...error.others.map((other) => other.line)].join() === '6,7,8,9',
    );
    const fixed = manual.replaceAll('.com/ ', '.com ').replace('www4.example.com/', 'www4.example.com');
    assert.deepStrictEqual(balancer(fixed, 'foo').members, [
      {
        url: 'http://www.example.com',
        healthCheck: {
          type: 'http',
          method: 'GET',
          path: '/status.php',
          expectStatus: range(100, 599),
          rejectBody: /Under maintenance/,
        },
      },
      {
        url: 'http://www2.example.com',
        healthCheck: { type: 'http', method: 'HEAD', expectStatus: range(200, 499), interval: 10_000 },
      },
      { url: 'http://www3.example.com', healthCheck: { type: 'tcp', interval: 5000, passes: 2, fails: 3 } },
      { url: 'http://www4.example.com' },
    ]);
  });
});

describe('a <VirtualHost> and the main server', () => {
  test('the virtual host uses the main server’s balancer; its ProxyPass parameters override the main server’s', () => {
    const text = [
      '<Proxy balancer://c>',
      '  BalancerMember ws://m1',
      '  ProxySet lbmethod=bytraffic failonstatus=500 maxattempts=1 stickysession=X nofailover=On',
      '</Proxy>',
      '<VirtualHost *:80>',
      '  ProxyPass /ws/ balancer://c/ lbmethod=bybusyness failonstatus=503 maxattempts=3',
      '</VirtualHost>',
    ].join('\n');
    assert.deepStrictEqual(read(text), {
      rules: [{ path: '/ws/', target: 'balancer://c/' }],
      balancers: {
        c: {
          members: [{ url: 'ws://m1' }],
          method: 'bybusyness',
          sticky: { cookie: 'X', param: 'X', noFailover: true },
          failOnStatus: [503, 500],
          maxAttempts: 3,
        },
      },
    });
  });

  test('a virtual host naming a main-server balancer does not inherit its lbmethod (httpd 2.4.71): noted', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet lbmethod=bytraffic maxattempts=1\n</Proxy>\n<VirtualHost *:80>\n  ProxyPass /ws/ balancer://c/\n</VirtualHost>\n';
    assert.deepStrictEqual(read(text).balancers, { c: { members: [{ url: 'ws://m1' }], maxAttempts: 1 } });
    assert.match(
      notes(text).at(-1)!,
      /^6: balancer:\/\/c -- this <VirtualHost> names the balancer, so httpd balances it byrequests here: lbmethod=bytraffic of the main server \(line 1\) is not inherited/,
    );
  });

  test('a RewriteRule [P] in the virtual host does not name the balancer: the main server’s lbmethod stays', () => {
    const text =
      '<Proxy balancer://c>\n  BalancerMember ws://m1\n  ProxySet lbmethod=bytraffic\n</Proxy>\n<VirtualHost *:80>\n  RewriteEngine On\n  RewriteRule ^/ws/(.*) balancer://c/$1 [P]\n</VirtualHost>\n';
    assert.deepStrictEqual(read(text).balancers, {
      c: { members: [{ url: 'ws://m1' }], method: 'bytraffic' },
    });
  });

  test('BalancerInherit On, BalancerGrowth, BalancerPersist and ProxyHCTPsize change nothing, and are noted', () => {
    const text =
      'BalancerInherit On\nBalancerGrowth 10\nBalancerPersist On\nProxyHCTPsize 8\nProxyPass /a/ ws://a/\n';
    assert.deepStrictEqual(
      notes(text).map((line) => line.split(' -- ')[0]),
      ['1: BalancerInherit On', '2: BalancerGrowth 10', '3: BalancerPersist On', '4: ProxyHCTPsize 8'],
    );
  });

  test('a balancer of the virtual host alone, with its own ProxyHCExpr', () => {
    const text =
      '<VirtualHost *:80>\n  ProxyHCExpr ok {%{REQUEST_STATUS} -eq 200}\n  <Proxy balancer://v>\n    BalancerMember ws://m1 hcmethod=GET hcexpr=ok\n  </Proxy>\n  ProxyPass /ws/ balancer://v/\n</VirtualHost>\n';
    assert.deepStrictEqual(read(text).balancers, {
      v: { members: [{ url: 'ws://m1', healthCheck: { type: 'http', method: 'GET', expectStatus: [200] } }] },
    });
  });
});

describe('end to end: an imported balancer in front of two ws echo servers', () => {
  const defer = cleanupAfterEach();

  test('createWstunnel accepts every kind of balancer the importer writes', async () => {
    const { options } = readApacheConfig(
      `Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}
ProxyHCExpr in_maint {hc('body') !~ /Under maintenance/}
ProxyHCTemplate tcp5 hcmethod=TCP hcinterval=5
Timeout 120
<Proxy "balancer://all" lbmethod=bybusyness>
  BalancerMember ws://127.0.0.1:1/app route=a loadfactor=2.5 lbset=1 retry=0 timeout=10 connectiontimeout=500ms keepalive=On max=5 hcmethod=GET hcuri=/status.php hcexpr=in_maint
  BalancerMember http://127.0.0.1:2 route=b upgrade=websocket status=+H hcmethod=HEAD11 hcexpr=ok234 hcinterval=10
  BalancerMember ws://127.0.0.1:3 status=-S+R hctemplate=tcp5 hcpasses=2 hcfails=3
  BalancerMember ws://127.0.0.1:4 status=+D hcmethod=OPTIONS
  BalancerMember ws://127.0.0.1:5 status=N hcmethod=None
  ProxySet stickysession=ROUTEID|routeid stickysessionsep=. nofailover=On maxattempts=2 failonstatus=502,503 failontimeout=On forcerecovery=Off
</Proxy>
ProxyPass /ws/ balancer://ALL/chat/
`,
      { file: 'site.conf' },
    );
    const tunnel = createWstunnel(options);
    assert.deepStrictEqual([...tunnel.balancers.keys()], ['all']);
    await tunnel.close();
  });

  test('the mod_proxy_wstunnel recipes with balancer:// targets reach the members, sticky routes included', async () => {
    const one = await startEchoBackend();
    const two = await startEchoBackend();
    defer(
      () => one.close(),
      () => two.close(),
    );
    // Member two has a path: httpd sends ProxyPass "/ws2/" "balancer://chat/" + /ws2/x to it as /app/x.
    const { options } = readApacheConfig(
      `Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
<Proxy "balancer://chat">
    BalancerMember "ws://127.0.0.1:${one.port}" route=one
    BalancerMember "ws://127.0.0.1:${two.port}/app" route=two
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass "/ws2/"  "balancer://chat/"
ProxyPassMatch ^/(myApp/ws)$  balancer://chat/$1
ProxyPass /plain/ http://127.0.0.1:${one.port}/
RewriteEngine on
RewriteCond %{HTTP:Upgrade} websocket [NC]
RewriteCond %{HTTP:Connection} upgrade [NC]
RewriteRule ^/rw/(.*) "balancer://chat/$1" [P,L]
`,
      { file: 'site.conf' },
    );
    const tunnel = createWstunnel(options);
    const port = await listenAttached(defer, tunnel, createServer());
    /** Handshakes as `member:url`, in the order the members received them. */
    const arrivals: string[] = [];
    for (const [name, backend] of [['one', one] as const, ['two', two] as const])
      backend.wss.on('connection', (_socket, req) => arrivals.push(`${name}:${req.url}`));
    const cases = [
      ['/ws2/room', '/room'],
      ['/myApp/ws', '/myApp/ws'],
      ['/rw/x?y=1', '/x?y=1'],
      ['/ws2/again', '/again'],
    ] as const;
    for (const [path, backendPath] of cases) {
      const client = await openClient(`ws://127.0.0.1:${port}${path}`);
      defer(() => client.terminate());
      const { data } = await roundTrip(client, `hello ${path}`);
      assert.equal(data.toString(), `hello ${path}`);
      assert.ok([`one:${backendPath}`, `two:/app${backendPath}`].includes(arrivals.at(-1)!), arrivals.at(-1));
    }
    // byrequests with equal weights alternates: both members were used.
    assert.ok(
      arrivals.some((arrival) => arrival.startsWith('one:')),
      arrivals.join(),
    );
    assert.ok(
      arrivals.some((arrival) => arrival.startsWith('two:')),
      arrivals.join(),
    );
    for (const route of ['two', 'one', 'two', 'two']) {
      const client = await openClient(`ws://127.0.0.1:${port}/ws2/sticky`, undefined, {
        headers: { Cookie: `ROUTEID=session.${route}` },
      });
      defer(() => client.terminate());
      assert.equal((await roundTrip(client, route)).data.toString(), route);
      assert.equal(arrivals.at(-1), route === 'one' ? 'one:/sticky' : 'two:/app/sticky');
    }
    // The manual's Header recipe: a session without a route gets the route cookie on the 101.
    const fresh = new WebSocket(`ws://127.0.0.1:${port}/ws2/cookie`);
    defer(() => fresh.terminate());
    const [response] = (await once(fresh, 'upgrade')) as [IncomingMessage];
    const member = arrivals.at(-1)?.startsWith('one:') ? 'one' : 'two';
    assert.deepStrictEqual(response.headers['set-cookie'], [`ROUTEID=.${member}; path=/`]);
  });
});
