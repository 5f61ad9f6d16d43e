/** Why: site files carry many directives that do not touch proxying; each is either noted with its reason or refused with a hint, never skipped silently. */

const NO_HOSTS = 'wstunnel does not route by host name: it serves every Host on its --listen address';
const REDIRECT =
  'wstunnel does not redirect: keep redirects (like http to https) in the server in front of it';
const OWN_LOG = 'wstunnel writes its own access log to stdout (--quiet turns it off) and errors to stderr';

/** Directives that change nothing in wstunnel, by lower-case name, with the reason reported to the user. */
export const INERT_DIRECTIVES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    servername: NO_HOSTS,
    serveralias: NO_HOSTS,
    serveradmin: 'wstunnel error responses name no administrator',
    serversignature: 'wstunnel error responses carry no server signature',
    servertokens: 'wstunnel sends no Server header of its own',
    documentroot: 'wstunnel serves no files: a request no rule proxies gets 404',
    directoryindex: 'wstunnel serves no files: a request no rule proxies gets 404',
    errorlog: OWN_LOG,
    customlog: OWN_LOG,
    transferlog: OWN_LOG,
    loglevel: OWN_LOG,
    logformat: OWN_LOG,
    loadmodule: 'wstunnel has the proxy, proxy_wstunnel, proxy_http, rewrite and ssl features built in',
    listen: 'use wstunnel --listen HOST:PORT',
    proxypassreverse:
      'wstunnel does not rewrite Location headers of backend responses: redirects reach the client as the backend wrote them',
    proxypassreversecookiedomain: 'wstunnel does not rewrite Set-Cookie headers of backend responses',
    proxypassreversecookiepath: 'wstunnel does not rewrite Set-Cookie headers of backend responses',
    proxyiobuffersize: "buffer sizes are Node's own",
    proxyreceivebuffersize: "buffer sizes are Node's own",
    keepalive: "client keep-alive is Node's http server default",
    keepalivetimeout: "client keep-alive is Node's http server default",
    maxkeepaliverequests: "client keep-alive is Node's http server default",
    protocols:
      'wstunnel speaks HTTP/1.1 to clients (httpd does not tunnel WebSockets over h2 without H2WebSockets either)',
    protocolshonororder: 'wstunnel speaks HTTP/1.1 to clients',
    allowencodedslashes:
      'wstunnel forwards %2F as it came (httpd NoDecode behaviour) and never decodes it into a separator',
    balancergrowth: "wstunnel's runtime API adds members and balancers without a limit",
    balancerpersist:
      'wstunnel keeps runtime balancer changes until it stops; the configuration is what it starts from',
    proxyhctpsize: 'wstunnel runs health checks in its event loop, without a thread pool',
    redirect: REDIRECT,
    redirectmatch: REDIRECT,
    redirectpermanent: REDIRECT,
    redirecttemp: REDIRECT,
  }),
);

/** Directives refused with a specific hint, by lower-case name. */
export const REFUSED_DIRECTIVES: ReadonlyMap<string, { readonly problem: string; readonly hint: string }> =
  new Map(
    Object.entries({
      include: {
        problem: 'Include is not supported',
        hint: 'paste the included file in place: wstunnel reads one file',
      },
      includeoptional: {
        problem: 'IncludeOptional is not supported',
        hint: 'paste the included file in place: wstunnel reads one file',
      },
      define: {
        problem: `Define and its \${NAME} variables are not supported`,
        hint: 'write the values out',
      },
      header: {
        problem: 'Header (response header editing) is not supported',
        hint: 'remove it, and set such headers in the backend or in a server in front of wstunnel',
      },
      requestheader: {
        problem: 'RequestHeader (request header editing) is not supported',
        hint: 'remove it; wstunnel adds X-Forwarded-For, -Host and -Proto itself (ProxyAddHeaders); behind a TLS front that sets X-Forwarded-Proto: https, run with --trust-forwarded (trustForwarded: true) so it reaches the backend',
      },
      sethandler: {
        problem:
          'SetHandler is not supported: wstunnel serves no handler (balancer-manager, server-status, ...)',
        hint: "remove it; for balancer-manager, mount wstunnel's balancer manager handler behind your own authentication",
      },
      rewriteoptions: {
        problem: 'RewriteOptions is not supported',
        hint: 'write the rules in the server or <VirtualHost> where they apply',
      },
      rewritemap: {
        problem: 'RewriteMap is not supported',
        hint: 'write the values out in RewriteCond/RewriteRule',
      },
      rewritebase: {
        problem: 'RewriteBase is not supported (it is for per-directory rewriting)',
        hint: 'write RewriteRules at server level with absolute [P] targets',
      },
      rewritelog: {
        problem: 'RewriteLog was removed in httpd 2.4',
        hint: 'remove it (httpd 2.4 uses LogLevel rewrite:trace3)',
      },
      rewriteloglevel: {
        problem: 'RewriteLogLevel was removed in httpd 2.4',
        hint: 'remove it (httpd 2.4 uses LogLevel rewrite:trace3)',
      },
    }),
  );

/** Front-end TLS directives (the certificate wstunnel would serve): noted, since TLS is terminated in front. */
export function isFrontendSsl(lowerName: string): boolean {
  return lowerName.startsWith('ssl') && !lowerName.startsWith('sslproxy');
}

/** Why a section other than those the importer reads is refused. */
export function sectionHint(lowerName: string): string {
  if (/^(?:directory|directorymatch|files|filesmatch)$/.test(lowerName)) {
    return 'wstunnel serves no files: move proxy directives out of it, to server level or a <Location>';
  }
  if (/^(?:if|elseif|else)$/.test(lowerName))
    return 'use RewriteCond with RewriteRule [P] to route on request values';
  if (lowerName.startsWith('if'))
    return 'keep the directives of the branch that applies, without the section';
  return 'wstunnel reads <VirtualHost> (one), <Location>, <LocationMatch>, <Proxy> and <IfModule>';
}
