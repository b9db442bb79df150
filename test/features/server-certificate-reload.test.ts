/**
 * The TLS server certificate is renewed in place (cert-manager, ACME) while `tollgate serve`
 * runs: SIGHUP picks a valid new pair up for new handshakes, connections already open keep
 * serving, and a broken renewal (a key that is not the certificate's, an expired certificate)
 * keeps the old pair serving, with a log line and `tollgate_reloads_total` saying so.
 */
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import { freePort } from '../helpers/net.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('server certificate renewal of a running process', {
  timeout: processTestTimeoutMs,
}, () => {
  let serve: ServeProcess | undefined;
  afterAll(() => serve?.kill());

  it('serves a renewed certificate after SIGHUP and keeps the old one when the renewal is broken', async () => {
    const ca = await createDevCa();
    const first = await ca.issueServer();
    const renewed = await ca.issueServer();
    const other = await ca.issueServer();
    const dayMs = 86_400_000;
    const expired = await ca.issueServer({
      notBefore: new Date(Date.now() - 3 * dayMs),
      notAfter: new Date(Date.now() - dayMs),
    });
    const adminPort = await freePort();
    const { dir, port, configFile } = await prepareServeDir({
      ca,
      server: first,
      config: {
        // Long enough that only SIGHUP reloads in this test.
        reload: { pollIntervalSeconds: 3600 },
        admin: { enabled: true, host: '127.0.0.1', port: adminPort },
        metrics: { enabled: true, allowedCidrs: ['127.0.0.1/32'] },
      },
      prefix: 'tollgate-server-cert-',
    });
    const install = async (chainPem: string, keyPem: string) => {
      await writeFile(join(dir, 'server.pem'), chainPem);
      await writeFile(join(dir, 'server-key.pem'), keyPem, { mode: 0o600 });
    };
    const running = spawnServe(configFile);
    serve = running;
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, undefined, running);

    // The certificate a new handshake gets (SNI localhost, verified against the dev root).
    const presented = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port, servername: 'localhost', ca: ca.root.certPem },
          () => {
            const peer: PeerCertificate = socket.getPeerCertificate();
            socket.end();
            resolve(peer.fingerprint256);
          },
        );
        socket.once('error', reject);
      });
    const failures = () => running.output().match(/reload failed: keeping the previous state/g);
    const sighupAndWaitForFailure = async (count: number) => {
      running.kill('SIGHUP');
      for (let i = 0; i < 100 && (failures()?.length ?? 0) < count; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(failures()?.length ?? 0, running.output()).toBe(count);
    };
    const scrape = () =>
      new Promise<string>((resolve, reject) => {
        fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text().then(resolve), reject);
      });
    // A keep-alive connection opened with the first certificate.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.root.certPem });
    const viaAgent = () =>
      new Promise<{ status: number; reused: boolean; fingerprint: string }>((resolve, reject) => {
        const req = request(
          `https://127.0.0.1:${port}/healthz`,
          { agent, servername: 'localhost' },
          (res) => {
            // Read while the socket is attached: at 'end' it goes back to the agent's pool.
            const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
            res.resume();
            res.once('end', () =>
              resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, fingerprint }),
            );
          },
        );
        req.once('error', reject);
        req.end();
      });

    try {
      expect(await presented()).toBe(fingerprintOf(first.certPem));
      expect((await viaAgent()).status).toBe(200);

      // A renewal whose key is not the certificate's: refused, the old pair keeps serving.
      await install(other.chainPem, first.keyPem);
      await sighupAndWaitForFailure(1);
      expect(running.output()).toMatch(/server-key\.pem is not the private key of .*server\.pem/);
      expect(await presented()).toBe(fingerprintOf(first.certPem));

      // An expired certificate with its own key: refused too.
      await install(expired.chainPem, expired.keyPem);
      await sighupAndWaitForFailure(2);
      expect(running.output()).toMatch(/server\.pem is not valid now/);
      expect(await presented()).toBe(fingerprintOf(first.certPem));

      // A valid renewal: new handshakes get it at once after SIGHUP.
      await install(renewed.chainPem, renewed.keyPem);
      running.kill('SIGHUP');
      let now = await presented();
      for (let i = 0; i < 100 && now !== fingerprintOf(renewed.certPem); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        now = await presented();
      }
      expect(now, running.output()).toBe(fingerprintOf(renewed.certPem));
      expect(failures()?.length ?? 0).toBe(2);

      // The connection opened before the renewal keeps serving with the pair it was made with.
      const kept = await viaAgent();
      expect(kept).toEqual({
        status: 200,
        reused: true,
        fingerprint: fingerprintOf(first.certPem),
      });

      const metrics = await scrape();
      expect(metrics).toMatch(
        /tollgate_reloads_total\{part="server_certificate",outcome="failed"\} 2\n/,
      );
      expect(metrics).toMatch(
        /tollgate_reloads_total\{part="server_certificate",outcome="reloaded"\} 1\n/,
      );
      expect(running.child.exitCode).toBeNull();
    } finally {
      agent.destroy();
    }
  });
});
