/**
 * F2, the crypto floor: what one core does per second of the work every private_key_jwt token
 * needs, one ES256 verification (the assertion) plus one ES256 signature (the access token), with
 * synchronous node:crypto on JWS-sized inputs. Prints one JSON line.
 *
 * Usage: node floor-crypto.mjs DURATION_MS
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';

const durationMs = Number(process.argv[2] ?? 3000);
const client = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const assertion = Buffer.from('x'.repeat(360));
const token = Buffer.from('y'.repeat(420));
const signature = sign('sha256', assertion, { key: client.privateKey, dsaEncoding: 'ieee-p1363' });
const verifyKey = { key: client.publicKey, dsaEncoding: 'ieee-p1363' };
const signKey = { key: server.privateKey, dsaEncoding: 'ieee-p1363' };

function loop(ms, maxOps) {
  const start = performance.now();
  let ops = 0;
  while (ops < maxOps) {
    for (let i = 0; i < 100; i++) {
      if (!verify('sha256', assertion, verifyKey, signature)) throw new Error('verify failed');
      sign('sha256', token, signKey);
    }
    ops += 100;
    if (performance.now() - start >= ms) break;
  }
  return { ops, seconds: (performance.now() - start) / 1000 };
}

loop(Math.min(500, durationMs / 4), 1e7); // warm-up
const cpu = process.cpuUsage();
const { ops, seconds } = loop(durationMs, 1e8);
const used = process.cpuUsage(cpu);
const cpuSeconds = (used.user + used.system) / 1e6;
process.stdout.write(
  `${JSON.stringify({ ops, seconds, rate: ops / seconds, perCpuSecond: ops / cpuSeconds })}\n`,
);
