/**
 * Compact JWS on synchronous node:crypto, for the two signatures on the token hot path: verifying
 * a client assertion and signing an access token.
 *
 * Why not jose here: jose routes every operation through WebCrypto jobs on the libuv threadpool;
 * the synchronous node:crypto path with the same checks is measurably faster end to end. jose
 * stays the tool for JWK import/export, thumbprints and everything off the hot path.
 *
 * The algorithm table is the allowlist: `none` and HMAC are not in it and cannot be added by
 * configuration.
 *
 * @see RFC 7515, RFC 7518 §3, RFC 8037, RFC 8725 §3.1
 */
import { constants, type KeyObject, sign, verify } from 'node:crypto';

/** Every asymmetric JWS algorithm Tollgate knows. */
export const asymmetricAlgs = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
] as const;
export type AsymmetricAlg = (typeof asymmetricAlgs)[number];

interface AlgSpec {
  readonly digest: 'sha256' | 'sha384' | 'sha512' | null;
  readonly family: 'ec' | 'rsa' | 'rsa-pss' | 'okp';
  /** EC curve (node's name) or, for OKP, the allowed key types. */
  readonly curves?: readonly string[];
  /** ECDSA signature length in IEEE P1363 form. */
  readonly signatureBytes?: number;
}

const algSpecs: Readonly<Record<AsymmetricAlg, AlgSpec>> = {
  ES256: { digest: 'sha256', family: 'ec', curves: ['prime256v1'], signatureBytes: 64 },
  ES384: { digest: 'sha384', family: 'ec', curves: ['secp384r1'], signatureBytes: 96 },
  ES512: { digest: 'sha512', family: 'ec', curves: ['secp521r1'], signatureBytes: 132 },
  PS256: { digest: 'sha256', family: 'rsa-pss' },
  PS384: { digest: 'sha384', family: 'rsa-pss' },
  PS512: { digest: 'sha512', family: 'rsa-pss' },
  RS256: { digest: 'sha256', family: 'rsa' },
  RS384: { digest: 'sha384', family: 'rsa' },
  RS512: { digest: 'sha512', family: 'rsa' },
  EdDSA: { digest: null, family: 'okp', curves: ['ed25519', 'ed448'] },
  Ed25519: { digest: null, family: 'okp', curves: ['ed25519'] },
};

/** Smallest RSA modulus accepted for any JWS. @see RFC 7518 §3.3, §3.5 */
export const minRsaModulusBits = 2048;

export function isAsymmetricAlg(alg: unknown): alg is AsymmetricAlg {
  return typeof alg === 'string' && Object.hasOwn(algSpecs, alg);
}

/**
 * Why a key cannot be used with an algorithm, or `undefined` when it fits: key type, curve and
 * RSA size (at least 2048 bits).
 */
export function keyMismatch(key: KeyObject, alg: AsymmetricAlg): string | undefined {
  const spec = algSpecs[alg];
  const type = key.asymmetricKeyType;
  switch (spec.family) {
    case 'ec': {
      if (type !== 'ec') return `${alg} needs an EC key`;
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === undefined || !spec.curves?.includes(curve)) {
        return `${alg} needs curve ${spec.curves?.join(' or ')}`;
      }
      return undefined;
    }
    case 'rsa':
    case 'rsa-pss': {
      // RS* needs a plain RSA key; PS* works with either RSA or RSA-PSS keys.
      if (type !== 'rsa' && !(spec.family === 'rsa-pss' && type === 'rsa-pss')) {
        return `${alg} needs an RSA key`;
      }
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < minRsaModulusBits) return `RSA keys must have at least ${minRsaModulusBits} bits`;
      return undefined;
    }
    case 'okp':
      return type !== undefined && spec.curves?.includes(type)
        ? undefined
        : `${alg} needs an ${spec.curves?.join(' or ')} key`;
  }
}

/** The signing and verification options for `alg`. */
function cryptoArgs(alg: AsymmetricAlg, key: KeyObject) {
  const spec = algSpecs[alg];
  if (spec.family === 'ec')
    return { digest: spec.digest, options: { key, dsaEncoding: 'ieee-p1363' as const } };
  if (spec.family === 'rsa-pss') {
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
    return {
      digest: spec.digest,
      options: {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      },
    };
  }
  if (spec.family === 'rsa')
    return { digest: spec.digest, options: { key, padding: constants.RSA_PKCS1_PADDING } };
  return { digest: null, options: { key } };
}

/** A compact JWS split and decoded, not yet verified. */
export interface DecodedJws {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`: the signing input. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

/** Why a compact JWS could not be decoded. */
export class JwsFormatError extends Error {
  override readonly name = 'JwsFormatError';
}

const base64url = /^[A-Za-z0-9_-]+$/;
const base64urlAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `part` is the one canonical base64url encoding of its bytes: the URL-safe alphabet
 * only (no `+`, `/`), no `=` padding, a length that encodes whole bytes, and zero unused bits in
 * the last character. Decoders, Node's included, silently ignore those bits, so without this
 * check one signed assertion has up to 16 spellings that all verify.
 *
 * @see RFC 7515 §2 (base64url without padding), RFC 4648 §3.5 (canonical encoding), §5
 */
export function isCanonicalBase64url(part: string): boolean {
  if (!base64url.test(part)) return false;
  const tail = part.length % 4;
  if (tail === 1) return false;
  if (tail === 0) return true;
  const last = base64urlAlphabet.indexOf(part[part.length - 1] as string);
  // Two trailing characters carry one byte (4 unused bits), three carry two (2 unused bits).
  const unusedBitsMask = tail === 2 ? 0b1111 : 0b11;
  return (last & unusedBitsMask) === 0;
}

/**
 * Splits and decodes a compact JWS whose header and payload are JSON objects. Strict: exactly
 * three non-empty parts, each the canonical base64url encoding of its bytes
 * ({@link isCanonicalBase64url}), header and payload UTF-8 JSON objects. A re-encoded copy of a
 * token is refused here, before any signature or replay check sees it.
 *
 * @throws JwsFormatError
 */
export function decodeCompactJws(token: string): DecodedJws {
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (first <= 0 || second === -1 || token.indexOf('.', second + 1) !== -1) {
    throw new JwsFormatError('not a compact JWS (three dot-separated parts)');
  }
  const headerPart = token.slice(0, first);
  const payloadPart = token.slice(first + 1, second);
  const signaturePart = token.slice(second + 1);
  for (const part of [headerPart, payloadPart, signaturePart]) {
    if (!isCanonicalBase64url(part))
      throw new JwsFormatError(
        'parts must be canonical base64url (RFC 7515 section 2, RFC 4648 section 3.5)',
      );
  }
  return {
    header: decodeJsonObject(headerPart, 'header'),
    payload: decodeJsonObject(payloadPart, 'payload'),
    signingInput: token.slice(0, second),
    signature: Buffer.from(signaturePart, 'base64url'),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(Buffer.from(part, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw new JwsFormatError(`${what} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwsFormatError(`${what} is not a JSON object`);
  }
  // RFC 7515 §5.2 allows last-wins, but a parser in front of us may read the first "alg"; a
  // token two parsers read differently is refused instead. JSON.parse keeps one property per
  // distinct name (after unescaping, `__proto__` included), so a repeated name shows as fewer
  // properties than the text has members.
  const properties = Object.keys(value).length;
  if (properties > 0 && topLevelMembers(text) !== properties) {
    throw new JwsFormatError(`${what} has a duplicate member name`);
  }
  return value as Record<string, unknown>;
}

/**
 * How many members a non-empty JSON object text (already known to parse) has at its top level:
 * one more than the commas at depth 1. A single pass over the character codes; strings are
 * skipped whole, so commas, quotes and brackets inside them do not count.
 */
function topLevelMembers(text: string): number {
  let members = 1;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) {
      // Skip the string to its closing quote, stepping over each escaped character (`\"`, `\\`).
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
    } else if (code === 0x7b || code === 0x5b) depth++;
    else if (code === 0x7d || code === 0x5d) depth--;
    else if (code === 0x2c && depth === 1) members++;
  }
  return members;
}

/**
 * Verifies the signature of a decoded JWS with a public key that the caller has already checked
 * with {@link keyMismatch}. Returns false on any mismatch; never throws for bad signatures.
 */
export function verifyJwsSignature(jws: DecodedJws, alg: AsymmetricAlg, key: KeyObject): boolean {
  const expectedLength = algSpecs[alg].signatureBytes;
  if (expectedLength !== undefined && jws.signature.length !== expectedLength) return false;
  const { digest, options } = cryptoArgs(alg, key);
  try {
    return verify(digest, Buffer.from(jws.signingInput), options, jws.signature);
  } catch {
    return false;
  }
}

/** A prepared signer: the protected header is encoded once, each call signs one payload. */
export interface JwsSigner {
  readonly alg: AsymmetricAlg;
  readonly kid: string;
  sign(payload: Record<string, unknown>): string;
}

/** Prepares a signer for `alg` with a private key and a fixed protected header. */
export function createJwsSigner(
  privateKey: KeyObject,
  alg: AsymmetricAlg,
  header: { readonly kid: string; readonly typ: string },
): JwsSigner {
  if (privateKey.type !== 'private') throw new TypeError('createJwsSigner needs a private key');
  const mismatch = keyMismatch(privateKey, alg);
  if (mismatch !== undefined) throw new TypeError(`createJwsSigner: ${mismatch}`);
  const encodedHeader = Buffer.from(
    JSON.stringify({ alg, typ: header.typ, kid: header.kid }),
  ).toString('base64url');
  const { digest, options } = cryptoArgs(alg, privateKey);
  return {
    alg,
    kid: header.kid,
    sign(payload) {
      const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      const signature = sign(digest, Buffer.from(signingInput), options);
      return `${signingInput}.${signature.toString('base64url')}`;
    },
  };
}

/**
 * Prepares a signer with an arbitrary protected header (which must not name `alg`: it is set
 * here), for JWS whose header carries more than `typ` and `kid`, such as a DPoP proof's `jwk`.
 *
 * @see RFC 7515 §3.1, RFC 9449 §4.2
 */
export function createHeaderSigner(
  privateKey: KeyObject,
  alg: AsymmetricAlg,
  header: Readonly<Record<string, unknown>>,
): (payload: Record<string, unknown>) => string {
  if (privateKey.type !== 'private') throw new TypeError('createHeaderSigner needs a private key');
  const mismatch = keyMismatch(privateKey, alg);
  if (mismatch !== undefined) throw new TypeError(`createHeaderSigner: ${mismatch}`);
  const encodedHeader = Buffer.from(JSON.stringify({ ...header, alg })).toString('base64url');
  const { digest, options } = cryptoArgs(alg, privateKey);
  return (payload) => {
    const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${signingInput}.${sign(digest, Buffer.from(signingInput), options).toString('base64url')}`;
  };
}
