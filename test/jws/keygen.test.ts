/**
 * Key pairs per JWS algorithm (src/jws/keygen.ts), and the Node 20 deadlock they avoid: a key
 * from generateKeyPair(Sync) exported as a JWK while the collector finalizes its generation job.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asymmetricAlgs, keyMismatch } from '../../src/jws/index.js';
import { generateKeyPairFor } from '../../src/jws/keygen.js';

const keygen = fileURLToPath(new URL('../../src/jws/keygen.ts', import.meta.url));

/** Runs `code` in a fresh Node with a 1 MiB young generation (many collections); its exit code. */
function runWithSmallHeap(code: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=1', '--import', 'tsx', '--input-type=module', '-e', code],
      { stdio: 'ignore' },
    );
    // A bound, not a measurement: the loop below stops itself after 2 s.
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve(status);
    });
  });
}

describe('generateKeyPairFor', () => {
  it('makes a key pair that signs each algorithm', () => {
    for (const alg of asymmetricAlgs) {
      const { privateKey, publicKey } = generateKeyPairFor(alg);
      expect(privateKey.type).toBe('private');
      expect(publicKey.type).toBe('public');
      expect(keyMismatch(publicKey, alg)).toBeUndefined();
    }
  });

  it('exports JWKs in a loop under constant garbage collection without hanging', async () => {
    // With generateKeyPairSync's own KeyObjects this loop deadlocks within a second (Node 20).
    const code = `
      const { generateKeyPairFor } = await import(${JSON.stringify(keygen)});
      const end = Date.now() + 2000;
      while (Date.now() < end) {
        const pair = generateKeyPairFor('ES256');
        pair.privateKey.export({ format: 'jwk' });
        pair.publicKey.export({ format: 'jwk' });
      }`;
    expect(await runWithSmallHeap(code)).toBe(0);
  }, 60_000);
});
