/**
 * `tollgate serve` (a real process) and `tollgate check-config` with a server certificate that is
 * expired or not yet valid: a clear refusal naming the file and its validity, exit status 1,
 * and no listener. Before, serve started and every client's handshake failed
 * (CERT_HAS_EXPIRED), a running process with nothing in its log to say why. A reload already
 * refused such a pair (test/features/server-certificate-reload.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkConfigCommand } from '../../src/cli/check-config.js';
import { createDevCa, type DevCa, type IssuedCertificate } from '../../src/dev-ca/index.js';
import { spawnServe } from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';

const dayMs = 24 * 3600 * 1000;

describe('a server certificate that is not valid now, at start-up', () => {
  let ca: DevCa;
  const certificates: Record<'expired' | 'future', IssuedCertificate | undefined> = {
    expired: undefined,
    future: undefined,
  };

  beforeAll(async () => {
    ca = await createDevCa();
    certificates.expired = await ca.issueServer({
      notBefore: new Date(Date.now() - 3 * dayMs),
      notAfter: new Date(Date.now() - dayMs),
    });
    certificates.future = await ca.issueServer({
      notBefore: new Date(Date.now() + dayMs),
      notAfter: new Date(Date.now() + 3 * dayMs),
    });
  });

  /** A server folder whose certificate is `which`. */
  async function configFor(which: 'expired' | 'future'): Promise<string> {
    const served = await prepareServeDir({
      ca,
      server: certificates[which] as IssuedCertificate,
      prefix: `tollgate-cert-${which}-`,
    });
    return served.configFile;
  }

  it.each([
    ['expired', 'expired'],
    ['not yet valid', 'future'],
  ] as const)(
    'serve refuses to start with a certificate that is %s, naming the file and its dates',
    async (_label, which) => {
      const file = await configFor(which);
      const serve = spawnServe(file);
      // Bounded: a server that starts anyway is killed when the test ends (and then fails below).
      const timer = setTimeout(() => serve.kill(), 60_000);
      const code = await serve.exited;
      clearTimeout(timer);
      expect(code, serve.output()).toBe(1);
      expect(serve.output()).toMatch(
        /tls\.certFile: .*server\.pem is not valid now \(valid from .* to .*\)/,
      );
      expect(serve.output()).not.toContain('Server listening');
    },
  );

  it('check-config reports it as a problem of tls.certFile', async () => {
    const file = await configFor('expired');
    let err = '';
    const code = await checkConfigCommand(['--config', file], {
      stdout: { write: () => true },
      stderr: { write: (text: string) => (err += text) },
    });
    expect(code).toBe(1);
    expect(err).toMatch(/tls\.certFile: .*server\.pem is not valid now \(valid from /);
  });
});
