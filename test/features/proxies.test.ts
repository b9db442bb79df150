/**
 * Behind real TLS-terminating proxies, every client-certificate failure is still Tollgate's OAuth
 * JSON error: the nginx and HAProxy configurations of docs/deployment.md, as printed (only the
 * listen port, file paths and upstream address substituted), in front of Tollgate's plain
 * listener, with each negative fixture of the dev CA (expired, not yet valid, revoked, another CA)
 * and with no certificate at all.
 *
 * Before the `error_page 495 496 = @tollgate` line, nginx answered an expired or not-yet-valid
 * certificate with its own HTML "400 The SSL certificate error" page, which the first two cases
 * here would read as a non-JSON 400.
 *
 * .ci/run installs nginx and haproxy; without them (outside CI) the suites skip with a notice.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import {
  createDevCa,
  createNegativeFixtures,
  type DevCa,
  type IssuedClientCertificate,
  type NegativeFixtureSet,
} from '../../src/dev-ca/index.js';
import { fencedBlocks } from '../docs/markdown.js';
import { findHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { findNginx, startNginxServer } from '../helpers/nginx.js';

const deployment = await readFile(
  fileURLToPath(new URL('../../docs/deployment.md', import.meta.url)),
  'utf8',
);

/** The one block of docs/deployment.md tagged `tag`. */
function documented(tag: string): string {
  const blocks = fencedBlocks(deployment, tag);
  if (blocks.length !== 1) throw new Error(`docs/deployment.md: expected one ${tag} block`);
  return blocks[0] as string;
}

/** Replaces each `from` (which must be there: otherwise the doc changed under this test). */
function substitute(text: string, pairs: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) {
      throw new Error(`the documented config no longer contains "${from}": update this test`);
    }
    out = out.replaceAll(from, to);
  }
  return out;
}

interface RunningProxy {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts haproxy in the foreground with the documented frontend and backend. */
async function startDocumentedHaproxy(
  binary: string,
  ca: DevCa,
  server: { chainPem: string; keyPem: string },
  upstreamPort: number,
): Promise<RunningProxy> {
  const port = await freePort();
  return startHaproxy(binary, port, async (dir) => {
    await writeFile(join(dir, 'server-with-key.pem'), `${server.chainPem}${server.keyPem}`, {
      mode: 0o600,
    });
    await writeFile(join(dir, 'client-ca.pem'), ca.root.certPem);
    const proxied = substitute(documented('haproxy'), [
      ['bind :443 ', `bind 127.0.0.1:${port} `],
      ['/etc/haproxy/tls/server-with-key.pem', join(dir, 'server-with-key.pem')],
      ['/etc/haproxy/tls/client-ca.pem', join(dir, 'client-ca.pem')],
      ['10.0.1.10:8080', `127.0.0.1:${upstreamPort}`],
    ]);
    return `global
  maxconn 64
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
${proxied}`;
  });
}

async function startDocumentedNginx(
  binary: string,
  server: { chainPem: string; keyPem: string },
  upstreamPort: number,
): Promise<RunningProxy> {
  return startNginxServer({
    binary,
    files: { 'server.pem': server.chainPem, 'server-key.pem': server.keyPem },
    server: (dir, port) =>
      substitute(documented('nginx'), [
        ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`],
        ['/etc/nginx/tls/server.pem', join(dir, 'server.pem')],
        ['/etc/nginx/tls/server-key.pem', join(dir, 'server-key.pem')],
        // The upstream block is part of the documented config: nginx refuses a proxy_pass to
        // an upstream name that no block defines ("host not found in upstream").
        ['10.0.1.10:8080', `127.0.0.1:${upstreamPort}`],
      ]),
  });
}

interface Reply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly text: string;
}

const proxies = [
  {
    name: 'nginx',
    binary: findNginx(),
    install: 'apt-get install nginx-light',
    header: 'x-ssl-client-cert',
    config: {
      proxy: { certificateFormat: 'nginx', nginxHeader: 'x-ssl-client-cert' },
    } satisfies ConfigInput,
    start: (binary: string, _ca: DevCa, server: { chainPem: string; keyPem: string }, up: number) =>
      startDocumentedNginx(binary, server, up),
  },
  {
    name: 'HAProxy',
    binary: findHaproxy(),
    install: 'apt-get install haproxy',
    header: 'client-cert',
    config: { proxy: { certificateFormat: 'rfc9440' } } satisfies ConfigInput,
    start: startDocumentedHaproxy,
  },
] as const;

for (const proxy of proxies) {
  if (proxy.binary === undefined && process.env.CI !== undefined) {
    throw new Error(`${proxy.name} is required in CI (.ci/run installs it)`);
  }
  if (proxy.binary === undefined) {
    console.warn(`${proxy.name} not installed: skipping its suite (${proxy.install})`);
  }

  describe.skipIf(proxy.binary === undefined)(
    `behind a real ${proxy.name} configured as docs/deployment.md says`,
    () => {
      let ca: DevCa;
      let tollgate: MtlsTollgate;
      let running: RunningProxy;
      let good: IssuedClientCertificate;
      let negative: NegativeFixtureSet;

      const post = (clientId: string, identity?: { cert: string; key: string }, headers = {}) =>
        new Promise<Reply>((resolve, reject) => {
          const req = httpsRequest(
            `https://127.0.0.1:${running.port}/token`,
            {
              method: 'POST',
              ca: ca.root.certPem,
              servername: 'localhost',
              agent: false,
              headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
              ...(identity ?? {}),
            },
            (res) => {
              let text = '';
              res.on('data', (chunk) => {
                text += chunk;
              });
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  contentType: res.headers['content-type'],
                  text,
                }),
              );
            },
          );
          req.on('error', reject);
          req.end(`grant_type=client_credentials&client_id=${encodeURIComponent(clientId)}`);
        });

      /** Asserts an RFC 6749 §5.2 JSON error from Tollgate, and returns its description. */
      const oauthError = (reply: Reply, status: number, error: string): string => {
        expect(reply.contentType, reply.text).toMatch(/^application\/json/);
        const body = JSON.parse(reply.text) as { error?: unknown; error_description?: unknown };
        expect(reply.status, reply.text).toBe(status);
        expect(body.error).toBe(error);
        return String(body.error_description);
      };

      beforeAll(async () => {
        ca = await createDevCa();
        good = await ca.issueClient({
          clientId: 'svc-proxied',
          subject: 'CN=svc-proxied,O=Acme,C=US',
        });
        negative = await createNegativeFixtures(ca);
        const f = negative.fixtures;
        tollgate = await startMtlsTollgate({
          ca,
          plain: true,
          clients: [
            {
              client_id: 'svc-proxied',
              token_endpoint_auth_method: 'tls_client_auth',
              tls_client_auth_subject_dn: 'CN=svc-proxied,O=Acme,C=US',
            },
            f.expired.registration,
            f['not-yet-valid'].registration,
            f.revoked.registration,
            f['foreign-ca'].registration,
          ],
          config: {
            ...proxy.config,
            proxy: { ...proxy.config.proxy, trustedCidrs: ['127.0.0.1/32'] },
          },
        });
        const serverCert = await ca.issueServer();
        running = await proxy.start(
          proxy.binary as string,
          ca,
          serverCert,
          Number(new URL(tollgate.plainBase as string).port),
        );
      });
      afterAll(async () => {
        await running?.stop();
        await tollgate?.dispose();
      });

      it('a good certificate gets a token bound to it', async () => {
        const reply = await post('svc-proxied', { cert: good.chainPem, key: good.keyPem });
        expect(reply.status, reply.text).toBe(200);
        const body = JSON.parse(reply.text) as { access_token: string };
        expect(claimsOf(body.access_token).cnf).toEqual({ 'x5t#S256': thumbprintOf(good.certPem) });
      });

      const cases = [
        ['expired', /has expired/],
        ['not-yet-valid', /is not yet valid/],
        ['revoked', /has been revoked/],
        ['foreign-ca', /does not chain to a trusted CA/],
      ] as const;
      for (const [kind, description] of cases) {
        it(`a ${kind} certificate gets Tollgate's OAuth error, not the proxy's`, async () => {
          const fixture = negative.fixtures[kind];
          const reply = await post(fixture.clientId, {
            cert: fixture.presentedChainPem,
            key: fixture.cert.keyPem,
          });
          expect(oauthError(reply, 401, 'invalid_client')).toMatch(description);
        });
      }

      it('no certificate gets the OAuth error that asks for one', async () => {
        const reply = await post('svc-proxied');
        expect(oauthError(reply, 401, 'invalid_client')).toMatch(/needs a client certificate/);
      });

      it("a client's own certificate header never reaches Tollgate", async () => {
        const forged =
          proxy.header === 'client-cert'
            ? `:${Buffer.from(good.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64')}:`
            : encodeURIComponent(good.certPem);
        const reply = await post('svc-proxied', undefined, { [proxy.header]: forged });
        expect(oauthError(reply, 401, 'invalid_client')).toMatch(/needs a client certificate/);
      });
    },
  );
}
