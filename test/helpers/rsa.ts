/** RSA keys node:crypto will not generate, for the key policy's exponent bound. */
import { createPrivateKey, generatePrimeSync, type KeyObject } from 'node:crypto';

/**
 * An RSA-2048 private key with public exponent `e`, built from two primes (node:crypto's key
 * generator takes 32-bit exponents only).
 */
export function rsaKeyWithExponent(e: bigint): KeyObject {
  const b64 = (n: bigint) => {
    const hex = n.toString(16);
    return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex').toString('base64url');
  };
  const inverse = (a: bigint, m: bigint) => {
    let [r0, r1, s0, s1] = [m, a % m, 0n, 1n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
    }
    return r0 === 1n ? ((s0 % m) + m) % m : undefined;
  };
  for (;;) {
    const p = generatePrimeSync(1024, { bigint: true });
    const q = generatePrimeSync(1024, { bigint: true });
    const n = p * q;
    const d = inverse(e, (p - 1n) * (q - 1n));
    const qi = inverse(q, p);
    if (p === q || n.toString(2).length !== 2048 || d === undefined || qi === undefined) continue;
    const jwk = { kty: 'RSA', n: b64(n), e: b64(e), d: b64(d), p: b64(p), q: b64(q) };
    return createPrivateKey({
      format: 'jwk',
      key: { ...jwk, dp: b64(d % (p - 1n)), dq: b64(d % (q - 1n)), qi: b64(qi) },
    });
  }
}
