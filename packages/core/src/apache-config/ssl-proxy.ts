/** Why: `wss://` backends are configured with mod_ssl's `SSLProxy*` directives; each maps to Node's TLS options, or is refused when Node cannot honour it. */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackendTlsOptions } from '../options.ts';
import { type ConfigPlace, fail, type IgnoredDirective } from './error.ts';
import type { ServerSettings, Setting } from './scope.ts';
import { oneArgument, onOff } from './values.ts';

const NODE_TLS = "Node's TLS defaults apply (TLS 1.2 or later, Node's cipher list)";

/**
 * Reads one `SSLProxy*` directive into `settings`. Returns what to note as ignored, `undefined` when the directive
 * was translated, or `false` when it is not an SSLProxy directive this importer knows.
 */
export function readSslProxyDirective(
  name: string,
  args: readonly string[],
  settings: ServerSettings,
  place: ConfigPlace,
): IgnoredDirective | undefined | false {
  const lower = name.toLowerCase();
  const one = (usage: string): string => oneArgument(name, args, usage, place);

  const flag = (): Setting<boolean> => ({ value: onOff(one('On|Off'), name, place), place });
  const file = (): Setting<string> => ({ value: one('/path/to/file.pem'), place });
  if (lower === 'sslproxyengine') settings.sslProxyEngine = flag();
  else if (lower === 'sslproxyverify') {
    const level = one('none|require').toLowerCase();
    if (level !== 'none' && level !== 'require') {
      fail(
        place,
        `SSLProxyVerify ${args[0]} is not supported`,
        'write SSLProxyVerify require (verify the backend certificate) or none (unsafe: do not)',
      );
    }
    settings.sslProxyVerify = { value: level === 'require', place };
  } else if (lower === 'sslproxycacertificatefile') settings.caFile = file();
  else if (lower === 'sslproxymachinecertificatefile') settings.machineCertificateFile = file();
  else if (lower === 'sslproxymachinecertificatechainfile') settings.machineChainFile = file();
  else if (lower === 'sslproxycheckpeername') settings.checkPeerName = flag();
  else if (lower === 'sslproxycheckpeercn') settings.checkPeerCn = flag();
  else if (lower === 'sslproxycheckpeerexpire') settings.checkPeerExpire = flag();
  else if (lower === 'sslproxyverifydepth')
    return {
      ...place,
      directive: `${name} ${args.join(' ')}`,
      reason: 'Node verifies the whole chain, whatever its depth',
    };
  else if (lower === 'sslproxyprotocol' || lower === 'sslproxyciphersuite') {
    return { ...place, directive: `${name} ${args.join(' ')}`, reason: NODE_TLS };
  } else if (lower === 'sslproxycacertificatepath' || lower === 'sslproxymachinecertificatepath') {
    fail(
      place,
      `${name} (a directory of certificates) is not supported`,
      `concatenate the PEM files into one and use ${name.slice(0, -4)}File`,
    );
  } else if (lower.startsWith('sslproxycarevocation')) {
    fail(place, `${name}: certificate revocation lists are not supported`, 'remove it');
  } else return false;
  return undefined;
}

function readPem(setting: Setting<string>, directive: string, baseDir: string): string {
  const path = resolve(baseDir, setting.value);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return fail(
      setting.place,
      `${directive} ${setting.value}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'a relative path is resolved against baseDir (with wstunnel --config, the directory of the configuration file)',
    );
  }
  return text;
}

function pemBlocks(text: string): { readonly label: string; readonly pem: string }[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)].map((m) => ({
    label: m[1]!,
    pem: m[0],
  }));
}

/** Builds the backend TLS options from the merged server settings, reading certificate files relative to `baseDir`. */
export function backendTls(settings: ServerSettings, baseDir: string): BackendTlsOptions | undefined {
  const tls: { -readonly [K in keyof BackendTlsOptions]: BackendTlsOptions[K] } = {};
  if (settings.caFile !== undefined) {
    const certificates = pemBlocks(readPem(settings.caFile, 'SSLProxyCACertificateFile', baseDir));
    if (!certificates.some((block) => block.label === 'CERTIFICATE')) {
      fail(
        settings.caFile.place,
        `SSLProxyCACertificateFile ${settings.caFile.value} holds no PEM certificate`,
        'give a file of -----BEGIN CERTIFICATE----- blocks',
      );
    }
    tls.ca = certificates
      .filter((block) => block.label === 'CERTIFICATE')
      .map((block) => block.pem)
      .join('\n');
  }
  const machine = settings.machineCertificateFile;
  if (machine !== undefined) {
    const blocks = pemBlocks(readPem(machine, 'SSLProxyMachineCertificateFile', baseDir));
    const chain =
      settings.machineChainFile === undefined
        ? []
        : pemBlocks(readPem(settings.machineChainFile, 'SSLProxyMachineCertificateChainFile', baseDir));
    const certificates = [...blocks, ...chain].filter((block) => block.label === 'CERTIFICATE');
    const keys = blocks.filter((block) => block.label.endsWith('PRIVATE KEY'));
    if (
      keys.some((key) => key.label.startsWith('ENCRYPTED')) ||
      keys.length !== 1 ||
      certificates.length === 0
    ) {
      fail(
        machine.place,
        `SSLProxyMachineCertificateFile ${machine.value} must hold one client certificate and its unencrypted private key, found ${certificates.length} certificate(s) and ${keys.length} key(s)`,
        'put the certificate (then its chain) and its private key in one PEM file, as httpd requires',
      );
    }
    tls.cert = certificates.map((block) => block.pem).join('\n');
    tls.key = keys[0]!.pem;
  } else if (settings.machineChainFile !== undefined) {
    fail(
      settings.machineChainFile.place,
      'SSLProxyMachineCertificateChainFile needs SSLProxyMachineCertificateFile',
      'add the client certificate, or remove the chain',
    );
  }
  if (settings.sslProxyVerify !== undefined) tls.rejectUnauthorized = settings.sslProxyVerify.value;
  const verifying = settings.sslProxyVerify?.value !== false;
  for (const [directive, check] of [
    ['SSLProxyCheckPeerName', settings.checkPeerName],
    ['SSLProxyCheckPeerCN', settings.checkPeerCn],
    ['SSLProxyCheckPeerExpire', settings.checkPeerExpire],
  ] as const) {
    if (check?.value === false && verifying) {
      fail(
        check.place,
        `${directive} Off cannot be honoured while the backend certificate is verified`,
        "Node checks the name and the dates of every certificate it verifies; fix the backend's certificate, or set SSLProxyVerify none (unsafe)",
      );
    }
  }
  return Object.keys(tls).length === 0 ? undefined : tls;
}
