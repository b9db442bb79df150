/**
 * F1, the HTTP ceiling: a bare Fastify HTTPS listener with Tollgate's TLS settings whose POST
 * /token parses the urlencoded form (one value per parameter) and answers a small JSON object
 * through a response schema. No authentication, no crypto beyond TLS.
 *
 * With SPIN_US, the handler busy-waits that long per request (LF1: a server as busy per request
 * as Tollgate, with none of Tollgate's code).
 *
 * Usage: node floor-http.mjs PORT CERT_FILE KEY_FILE [SPIN_US]
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serverTlsOptions } from './lib.mjs';

const [port, certFile, keyFile, spinArg] = process.argv.slice(2);
const spinMs = Number(spinArg ?? 0) / 1000;
const app = Fastify({
  logger: false,
  requestIdHeader: false,
  https: serverTlsOptions(readFileSync(certFile), readFileSync(keyFile)),
});
app.removeAllContentTypeParsers();
app.addContentTypeParser(
  'application/x-www-form-urlencoded',
  { parseAs: 'string', bodyLimit: 16384 },
  (_request, body, done) => {
    const params = new URLSearchParams(body);
    const seen = new Set();
    for (const name of params.keys()) {
      if (seen.has(name)) return done(new Error(`duplicate ${name}`), undefined);
      seen.add(name);
    }
    done(null, params);
  },
);
app.post(
  '/token',
  {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            access_token: { type: 'string' },
            token_type: { type: 'string' },
            expires_in: { type: 'integer' },
          },
        },
      },
    },
  },
  async (request, reply) => {
    if (spinMs > 0) {
      const until = performance.now() + spinMs;
      while (performance.now() < until);
    }
    reply.header('cache-control', 'no-store');
    return {
      access_token: request.body.get('grant_type') ?? '',
      token_type: 'Bearer',
      expires_in: 600,
    };
  },
);
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
