/**
 * What `check-config` and `serve` verify about the files a configuration names before anything
 * loads them: each missing or unreadable file is a problem naming the setting and the fix (never
 * a bare ENOENT), and the server's certificate and key are tried together so an OpenSSL verdict
 * ("key values mismatch") becomes a sentence, and the certificate must be valid now.
 */
import { accessSync, constants } from 'node:fs';
import type { Config, ConfigProblem } from '../config/index.js';
import {
  describeServerIdentityError,
  loadServerIdentity,
  ServerIdentityError,
} from '../http/server-identity.js';
import { describeFileError } from './args.js';

/** Every file setting of `config` that names a file (an unset one is servingMaterialProblems'). */
function configuredFiles(config: Config): Array<readonly [string, string]> {
  const files: Array<readonly [string, string]> = [];
  for (const [setting, file] of [
    ['tls.certFile', config.tls.certFile],
    ['tls.keyFile', config.tls.keyFile],
    ['signingKeys.file', config.signingKeys.file],
    ['registry.file', config.registry.file],
  ] as const) {
    if (file !== null) files.push([setting, file]);
  }
  const certs = config.clientCertificates;
  for (const [setting, list] of [
    ['clientCertificates.trustAnchorFiles', certs.trustAnchorFiles],
    ['clientCertificates.intermediateFiles', certs.intermediateFiles],
    ['clientCertificates.crlFiles', certs.crlFiles],
  ] as const) {
    list.forEach((file, i) => {
      files.push([`${setting}.${i}`, file]);
    });
  }
  return files;
}

/**
 * Files the configuration names that cannot be read. `optional` settings (made at start in dev
 * mode) are not reported when missing.
 */
export function fileProblems(config: Config, optional: readonly string[] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [setting, file] of configuredFiles(config)) {
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && optional.includes(setting))
        continue;
      problems.push({
        path: setting,
        message:
          describeFileError(
            error,
            '',
            'fix the path: a relative one starts from the folder of the file that set it',
          ) ?? `${file}: ${(error as Error).message}`,
      });
    }
  }
  return problems;
}

/**
 * The server certificate and key must load together (TLS would refuse them at start), and the
 * leaf must be valid at `now`: an expired or not-yet-valid certificate fails every client's
 * handshake, so starting with it is an outage that looks like a running server. The same check
 * as a reload's (src/http/server-identity.ts), which keeps the old pair instead.
 */
export function serverIdentityProblems(config: Config, now = new Date()): ConfigProblem[] {
  const { certFile, keyFile } = config.tls;
  if (certFile === null || keyFile === null) return [];
  try {
    loadServerIdentity(certFile, keyFile, now);
    return [];
  } catch (error) {
    const message =
      error instanceof ServerIdentityError
        ? error.message.replace(/^tls\.certFile: /, '')
        : describeServerIdentityError(error, certFile, keyFile);
    return [{ path: 'tls.certFile', message }];
  }
}
