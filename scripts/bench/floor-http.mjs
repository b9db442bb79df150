/**
 * F1, the HTTP ceiling: a bare Fastify HTTPS listener with Tollgate's TLS settings whose POST
 * /token parses the urlencoded form (one value per parameter) and answers a small JSON object
 * through a response schema. No authentication, no crypto beyond TLS.
 *
 * With TARGET_US, the handler also works (ES256 signatures) so that a request costs the server
 * TARGET_US of CPU in all (LF1: a server as busy per request as Tollgate, with none of Tollgate's
 * code). The signatures per request are set in the closed-loop warm-up (calibrate, below) and
 * then stay (the fraction carried from request to request).
 * Work, not a busy-wait on the clock: when the host slows, a request takes longer, as Tollgate's
 * does (round 28: the host's speed moved by a quarter between half-seconds, and LF1's busy-wait
 * kept its time).
 *
 * Usage: node floor-http.mjs PORT CERT_FILE KEY_FILE [TARGET_US]
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serverTlsOptions } from './lib.mjs';

const [port, certFile, keyFile, targetArg] = process.argv.slice(2);
const targetUs = Number(targetArg ?? 0);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const payload = Buffer.alloc(200, 'a');
const signOnce = () => sign('sha256', payload, { key: privateKey, dsaEncoding: 'ieee-p1363' });
/** One signature's CPU time here, in microseconds, after a warm-up: the first step's size. */
function signatureUs() {
  for (let i = 0; i < 500; i++) signOnce();
  const count = 2000;
  const started = process.cpuUsage();
  for (let i = 0; i < count; i++) signOnce();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / count;
}
const oneSignatureUs = targetUs > 0 ? signatureUs() : 0;
let perRequest = 0;
let owed = 0;
let served = 0;
let roundCpu;
const settled = [];
/**
 * Sets the signatures per request in the warm-up: rounds of 500 requests from request 500 on;
 * the first three step toward TARGET_US by what their requests cost (process CPU time), the next
 * three each estimate the count that meets it, and their mean stays (one round's cost moves by
 * 10% with the host).
 */
function calibrate() {
  served++;
  if (served < 500 || settled.length === 3 || served % 500 !== 0) return;
  if (roundCpu !== undefined) {
    const used = process.cpuUsage(roundCpu);
    const costUs = (used.user + used.system) / 500;
    const estimate = Math.max(0, perRequest + (targetUs - costUs) / oneSignatureUs);
    if (served <= 2000) {
      perRequest = Math.max(0, perRequest + 0.8 * (estimate - perRequest));
    } else {
      settled.push(estimate);
      if (settled.length === 3) {
        perRequest = (settled[0] + settled[1] + settled[2]) / 3;
        process.stderr.write(`${perRequest.toFixed(2)} ES256 signatures per request\n`);
      }
    }
  }
  roundCpu = process.cpuUsage();
}
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
    if (targetUs > 0) {
      calibrate();
      owed += perRequest;
      for (; owed >= 1; owed--) signOnce();
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
