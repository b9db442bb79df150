/**
 * The trust store: trust anchors, configured intermediates and CRLs, prepared once, and the
 * synchronous chain validation run for each new client certificate.
 *
 * Path building starts at the leaf and looks for issuers by normalized subject DN among the
 * anchors, the configured intermediates (so leaf-only clients work) and the certificates the
 * client sent. A path of names that ends at an anchor is then verified from the anchor down: a
 * link counts only if the child's signature verifies with the issuer's key, and an issuer's key is
 * used only once its own certificate verified. A foreign CA with our CA's name never chains,
 * because names only select candidates and keys decide; and a stranger's chain of signatures that
 * leads to no anchor costs no verification with the stranger's keys. Every complete path (a bounded number) is then run through the
 * validators of `path-checks.ts`; the first path that passes wins, otherwise the first failure is
 * reported.
 *
 * Everything is parsed and checked at construction: a bad anchor, intermediate or CRL (including
 * a CRL whose signature does not verify with a configured CA) throws {@link TrustStoreError}, so
 * start-up or reload fails loudly and the previous store stays in service. Instances are
 * immutable; `reload()` and `withCrls()` return a new one for the caller to swap atomically.
 *
 * CRL freshness (decision): fail closed by default. A CRL past its nextUpdate (plus
 * `crlGraceSeconds`, default 0) makes every path through that CA fail with `untrusted` /
 * `crl_stale`, as RFC 5280 §6.3.3 leaves the status undetermined; `crlStaleness: 'ignore'`
 * keeps using the last CRL (for deployments that prefer availability), still revoking what it
 * lists. CAs without a configured CRL are not revocation-checked unless `requireCrls` is set.
 *
 * @see RFC 5280 §6 (path validation), RFC 8705 §2.1 (PKI mutual TLS)
 */
import { createHash, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  certificatePublicKey,
  defaultMaxChainCertificates,
  type ParsedCertificate,
  parseCertificate,
} from './certificate.js';
import { type ChainFailure, type ChainValidationResult, chainFailure } from './chain-result.js';
import { type ParsedCrl, parseCrl } from './crl.js';
import { formatDn } from './dn.js';
import { PkiError, TrustStoreError } from './errors.js';
import { hasKeyUsage } from './extensions.js';
import {
  type KeyPolicy,
  resolveKeyPolicy,
  signatureAlgorithmViolation,
  spkiPolicyViolation,
} from './key-policy.js';
import {
  certificateProfileProblem,
  checkBasicConstraints,
  checkCriticalExtensions,
  checkExtendedKeyUsage,
  checkKeyPolicy,
  checkKeyUsage,
  checkNameConstraints,
  checkPin,
  checkProfile,
  checkRevocation,
  checkValidity,
  type RevocationPolicy,
} from './path-checks.js';
import { decodePem } from './pem.js';
import { verifySignature } from './signature.js';

/** Certificates and CRLs: PEM text (one or more blocks) or DER bytes (one object). */
export type PkiSource = string | Uint8Array;

/** What a trust store is built from. */
export interface TrustStoreInput {
  readonly anchors: readonly PkiSource[];
  readonly intermediates?: readonly PkiSource[];
  readonly crls?: readonly PkiSource[];
}

/** File paths a trust store is loaded from (PEM or DER files). */
export interface TrustStoreFiles {
  readonly anchors: readonly string[];
  readonly intermediates?: readonly string[];
  readonly crls?: readonly string[];
}

/** Validation policy, fixed per store. */
export interface TrustStoreOptions {
  /** What a CRL past nextUpdate does; default `fail` (see the module comment). */
  readonly crlStaleness?: 'fail' | 'ignore';
  /** Seconds a CRL stays usable past nextUpdate; default 0. */
  readonly crlGraceSeconds?: number;
  /** Refuse paths through a CA that has no configured CRL; default false. */
  readonly requireCrls?: boolean;
  /**
   * Most certificates a client may send besides its leaf, counted as sent (duplicates
   * included); default {@link defaultMaxChainCertificates}.
   */
  readonly maxChainCertificates?: number;
  /** Most intermediates on a path between the leaf and the anchor; default {@link defaultMaxIntermediates}. */
  readonly maxIntermediates?: number;
  /** Smallest RSA modulus accepted anywhere on a path; default 2048 (see key-policy.ts). */
  readonly minRsaBits?: number;
  /** Largest certificate accepted, DER bytes; default 16 KiB. */
  readonly maxCertificateBytes?: number;
}

/** Per-call inputs of {@link TrustStore.validate}. */
export interface ValidateOptions {
  /** The validation time (inject the clock). */
  readonly now: Date;
  /**
   * SPKI SHA-256 (base64url) of the anchors this client's path may end at. Absent: any anchor.
   * An empty list pins nothing and so accepts nothing.
   */
  readonly pinnedSpkiSha256?: readonly string[];
}

interface Candidate {
  readonly certificate: ParsedCertificate;
  readonly anchor: boolean;
}

interface ResolvedOptions {
  readonly crlStaleness: 'fail' | 'ignore';
  readonly crlGraceSeconds: number;
  readonly requireCrls: boolean;
  readonly maxChainCertificates: number;
  readonly maxIntermediates: number;
  readonly maxCertificateBytes: number;
  readonly keyPolicy: KeyPolicy;
}

interface Prepared {
  readonly anchors: readonly ParsedCertificate[];
  readonly intermediates: readonly ParsedCertificate[];
}

interface FileSnapshot {
  readonly files: TrustStoreFiles;
  readonly hashes: ReadonlyMap<string, string>;
}

/**
 * Default cap on intermediates: real PKIs use one to three; 10 leaves room for cross-signed and
 * bridge paths and bounds the work a stranger's chain can cause.
 */
export const defaultMaxIntermediates = 10;

/**
 * Verified paths examined per validation, and steps of the search by names: bounds on hostile
 * chains (the search costs no cryptography; verifications are bounded by the links of the paths
 * of names it finds, and use only keys a trusted CA certified).
 */
const maxPaths = 8;
const maxSteps = 256;

/**
 * Trust anchors, intermediates and CRLs, ready for synchronous chain validation.
 *
 * @see RFC 5280 §6, RFC 8705 §2.1
 */
export class TrustStore {
  readonly #anchors: readonly ParsedCertificate[];
  readonly #intermediates: readonly ParsedCertificate[];
  readonly #bySubject: ReadonlyMap<string, readonly Candidate[]>;
  readonly #crls: ReadonlyMap<string, ParsedCrl>;
  readonly #options: ResolvedOptions;
  readonly #revocation: RevocationPolicy;
  readonly #snapshot: FileSnapshot | undefined;
  /** Signature verifications spent by {@link TrustStore.validate} (a statistic, see its getter). */
  #signatureVerifications = 0;

  private constructor(
    prepared: Prepared,
    crls: readonly PkiSource[],
    options: ResolvedOptions,
    snapshot: FileSnapshot | undefined,
    crlFields: readonly string[] = crls.map((_, index) => `crls[${index}]`),
  ) {
    this.#anchors = prepared.anchors;
    this.#intermediates = prepared.intermediates;
    this.#options = options;
    this.#snapshot = snapshot;
    const bySubject = new Map<string, Candidate[]>();
    // Anchors first: the shortest path to a trusted key is tried before longer ones.
    for (const [list, anchor] of [
      [prepared.anchors, true],
      [prepared.intermediates, false],
    ] as const) {
      for (const certificate of list) {
        const entries = bySubject.get(certificate.subject.key) ?? [];
        entries.push({ certificate, anchor });
        bySubject.set(certificate.subject.key, entries);
      }
    }
    this.#bySubject = bySubject;
    this.#crls = indexCrls(crls, crlFields, [...prepared.anchors, ...prepared.intermediates]);
    this.#revocation = {
      crlFor: (ca) => this.#crls.get(caIdentity(ca)),
      requireCrls: options.requireCrls,
      staleness: options.crlStaleness,
      graceMilliseconds: options.crlGraceSeconds * 1000,
    };
  }

  /**
   * Builds a store from PEM/DER inputs; throws {@link TrustStoreError} naming the bad input.
   * Anchors and intermediates must be CA certificates (`cA: TRUE`, keyCertSign if key usage is
   * present); each CRL must be signed by one of them.
   */
  static fromPem(input: TrustStoreInput, options: TrustStoreOptions = {}): TrustStore {
    const resolved = resolveOptions(options);
    return new TrustStore(prepare(input, resolved), input.crls ?? [], resolved, undefined);
  }

  /** Loads a store from files (PEM or DER); `reload()` re-reads the same files. */
  static async fromFiles(
    files: TrustStoreFiles,
    options: TrustStoreOptions = {},
  ): Promise<TrustStore> {
    const contents = await readAll(files);
    const resolved = resolveOptions(options);
    const input = {
      anchors: files.anchors.map((path) => contents.get(path) as Buffer),
      intermediates: (files.intermediates ?? []).map((path) => contents.get(path) as Buffer),
      crls: (files.crls ?? []).map((path) => contents.get(path) as Buffer),
    };
    return new TrustStore(
      prepare(input, resolved, files),
      input.crls,
      resolved,
      { files, hashes: hashAll(contents) },
      files.crls ?? [],
    );
  }

  /**
   * Re-reads the files of a store made by {@link TrustStore.fromFiles}: returns `this` when no
   * file changed, a store sharing the parsed certificates when only CRLs changed, otherwise a
   * fresh store. Throws {@link TrustStoreError} (keep serving with the old store) on bad input.
   */
  async reload(): Promise<TrustStore> {
    const snapshot = this.#snapshot;
    if (snapshot === undefined) throw new TypeError('reload() needs a store built by fromFiles()');
    const contents = await readAll(snapshot.files);
    const hashes = hashAll(contents);
    const changed = (paths: readonly string[] | undefined): boolean =>
      (paths ?? []).some((path) => hashes.get(path) !== snapshot.hashes.get(path));
    const { files } = snapshot;
    if (!changed(files.anchors) && !changed(files.intermediates)) {
      if (!changed(files.crls)) return this;
      const crls = (files.crls ?? []).map((path) => contents.get(path) as Buffer);
      return new TrustStore(
        { anchors: this.#anchors, intermediates: this.#intermediates },
        crls,
        this.#options,
        { files, hashes },
        files.crls ?? [],
      );
    }
    return TrustStore.fromFiles(files, this.#options);
  }

  /** A store with the same certificates and policy and these CRLs instead. */
  withCrls(crls: readonly PkiSource[]): TrustStore {
    return new TrustStore(
      { anchors: this.#anchors, intermediates: this.#intermediates },
      crls,
      this.#options,
      undefined,
    );
  }

  /** The trust anchors, parsed. */
  get anchors(): readonly ParsedCertificate[] {
    return this.#anchors;
  }

  /**
   * How many certificate signatures {@link TrustStore.validate} has verified with this store, in
   * all: the work strangers' chains cost (each verification is the expensive step of path
   * building). Only counts; nothing depends on it.
   */
  get signatureVerifications(): number {
    return this.#signatureVerifications;
  }

  /** The earliest nextUpdate of the configured CRLs: when to look for fresher ones. */
  get earliestCrlNextUpdate(): Date | undefined {
    let earliest: Date | undefined;
    for (const crl of this.#crls.values()) {
      if (crl.nextUpdate !== undefined && (earliest === undefined || crl.nextUpdate < earliest)) {
        earliest = crl.nextUpdate;
      }
    }
    return earliest;
  }

  /**
   * Validates a client certificate chain: synchronous, no I/O. `chain` is what the client sent
   * besides its leaf, in any order (it only offers candidates).
   *
   * @see RFC 5280 §6.1, RFC 8705 §2.1
   */
  validate(
    leaf: Uint8Array | ParsedCertificate,
    chain: readonly (Uint8Array | ParsedCertificate)[],
    options: ValidateOptions,
  ): ChainValidationResult {
    const now = options.now;
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
      throw new TypeError('validate() needs a valid `now`');
    }
    const pins = options.pinnedSpkiSha256;
    if (
      pins !== undefined &&
      !(Array.isArray(pins) && pins.every((pin) => typeof pin === 'string'))
    ) {
      throw new TypeError('pinnedSpkiSha256 must be an array of strings');
    }
    if (chain.length > this.#options.maxChainCertificates) {
      return chainFailure('malformed', 'parse', 'too many chain certificates');
    }
    let parsedLeaf: ParsedCertificate;
    const parsedChain: ParsedCertificate[] = [];
    try {
      parsedLeaf = this.#parse(leaf);
      for (const certificate of chain) parsedChain.push(this.#parse(certificate));
    } catch (error) {
      if (error instanceof PkiError) return chainFailure('malformed', 'parse', error.message);
      throw error;
    }
    const { paths, detail, check } = this.#buildPaths(parsedLeaf, parsedChain);
    let firstFailure: ChainFailure | undefined;
    for (const path of paths) {
      const failure = this.#checkPath(path, now, pins);
      if (failure === undefined) {
        const anchor = path[path.length - 1] as ParsedCertificate;
        return {
          ok: true,
          leaf: parsedLeaf,
          path,
          anchor,
          anchorSpkiSha256: anchor.spkiSha256,
          recheckAfter: this.#recheckAfter(path),
        };
      }
      firstFailure ??= failure;
    }
    return firstFailure ?? chainFailure('untrusted', check, detail);
  }

  #parse(input: Uint8Array | ParsedCertificate): ParsedCertificate {
    if (input instanceof Uint8Array) {
      return parseCertificate(input, { maxBytes: this.#options.maxCertificateBytes });
    }
    if (typeof input !== 'object' || input === null || !(input.der instanceof Uint8Array)) {
      throw new TypeError('expected DER bytes or a ParsedCertificate');
    }
    return input;
  }

  /**
   * Paths from the leaf to an anchor whose every signature verifies, found in two steps so that a
   * stranger's chain costs no verification with the stranger's keys (round 23):
   * 1. a depth-first search by names alone (no cryptography) for paths that end at an anchor,
   *    bounded by {@link maxSteps} and the intermediates cap;
   * 2. each such path verified from the anchor down, stopping at its first link that fails: a
   *    key is used only once the certificate carrying it verified under a trusted key, so the
   *    keys a client chose never verify anything unless a trusted CA certified them.
   * Links are verified once per validation (several paths share them).
   */
  #buildPaths(
    leaf: ParsedCertificate,
    chain: readonly ParsedCertificate[],
  ): { paths: ParsedCertificate[][]; detail: string; check: 'path' | 'signature_algorithm' } {
    const offered = new Map<string, Candidate[]>();
    for (const certificate of chain) {
      const entries = offered.get(certificate.subject.key) ?? [];
      entries.push({ certificate, anchor: false });
      offered.set(certificate.subject.key, entries);
    }
    const namePaths: ParsedCertificate[][] = [];
    let steps = 0;
    let nameMatches = 0;
    const visit = (path: ParsedCertificate[]): void => {
      const current = path[path.length - 1] as ParsedCertificate;
      const candidates = [
        ...(this.#bySubject.get(current.issuer.key) ?? []),
        ...(offered.get(current.issuer.key) ?? []),
      ];
      for (const candidate of candidates) {
        if (++steps > maxSteps) return;
        const issuer = candidate.certificate;
        if (path.some((certificate) => certificate.x5tS256 === issuer.x5tS256)) continue;
        nameMatches++;
        const next = [...path, issuer];
        if (candidate.anchor) namePaths.push(next);
        // `next` holds next.length - 1 intermediates: up to the cap, look further up.
        else if (next.length - 1 <= this.#options.maxIntermediates) visit(next);
      }
    };
    visit([leaf]);

    const paths: ParsedCertificate[][] = [];
    const verified = new Map<string, boolean>();
    let weakSignature: string | undefined;
    const linkVerifies = (child: ParsedCertificate, issuer: ParsedCertificate, index: number) => {
      const weak = signatureAlgorithmViolation(child.signatureAlgorithm);
      if (weak !== undefined) {
        weakSignature ??= `${index === 0 ? 'leaf' : `intermediate ${index}`}: ${weak}`;
        return false;
      }
      const pair = `${child.x5tS256}>${issuer.x5tS256}`;
      let ok = verified.get(pair);
      if (ok === undefined) {
        this.#signatureVerifications++;
        ok = signedBy(child, issuer);
        verified.set(pair, ok);
      }
      return ok;
    };
    for (const path of namePaths) {
      if (paths.length >= maxPaths) break;
      let index = path.length - 2;
      while (
        index >= 0 &&
        linkVerifies(path[index] as ParsedCertificate, path[index + 1] as ParsedCertificate, index)
      ) {
        index--;
      }
      if (index < 0) paths.push(path);
    }
    if (weakSignature !== undefined && paths.length === 0) {
      return { paths, detail: weakSignature, check: 'signature_algorithm' };
    }
    const detail =
      nameMatches === 0
        ? `no trust anchor or intermediate named ${truncate(formatDn(leaf.issuer))}`
        : 'no issuer signature verifies up to a trust anchor';
    return { paths, detail, check: 'path' };
  }

  #checkPath(
    path: readonly ParsedCertificate[],
    now: Date,
    pins: readonly string[] | undefined,
  ): ChainFailure | undefined {
    return (
      checkValidity(path, now) ??
      checkKeyPolicy(path, this.#options.keyPolicy) ??
      checkProfile(path) ??
      checkCriticalExtensions(path) ??
      checkBasicConstraints(path) ??
      checkKeyUsage(path) ??
      checkExtendedKeyUsage(path) ??
      checkNameConstraints(path) ??
      checkRevocation(path, now, this.#revocation) ??
      checkPin(path, pins)
    );
  }

  #recheckAfter(path: readonly ParsedCertificate[]): Date {
    let time = Math.min(...path.map((certificate) => certificate.notAfter.getTime()));
    if (this.#options.crlStaleness === 'fail') {
      for (let index = 1; index < path.length; index++) {
        const crl = this.#revocation.crlFor(path[index] as ParsedCertificate);
        if (crl?.nextUpdate !== undefined) {
          time = Math.min(time, crl.nextUpdate.getTime() + this.#revocation.graceMilliseconds);
        }
      }
    }
    return new Date(time);
  }
}

/** True when `issuer`'s key verifies `child`'s signature. @see RFC 5280 §6.1.3 (a)(1) */
function signedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  const key = certificatePublicKey(issuer);
  if (key === undefined) return false;
  return verifySignature(child.signatureAlgorithm, child.tbs, child.signature, key) === 'valid';
}

/** A CA is identified by its name and key together (a re-keyed CA is another CA). */
function caIdentity(ca: ParsedCertificate): string {
  return `${ca.subject.key}\n${ca.spkiSha256}`;
}

function resolveOptions(options: TrustStoreOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    crlStaleness: options.crlStaleness ?? 'fail',
    crlGraceSeconds: options.crlGraceSeconds ?? 0,
    requireCrls: options.requireCrls ?? false,
    maxChainCertificates: options.maxChainCertificates ?? defaultMaxChainCertificates,
    maxIntermediates: options.maxIntermediates ?? defaultMaxIntermediates,
    maxCertificateBytes: options.maxCertificateBytes ?? 16 * 1024,
    keyPolicy: resolveKeyPolicy(
      options.minRsaBits === undefined ? {} : { minRsaBits: options.minRsaBits },
    ),
  };
  if (resolved.crlStaleness !== 'fail' && resolved.crlStaleness !== 'ignore') {
    throw new TypeError('crlStaleness must be "fail" or "ignore"');
  }
  for (const [name, value] of [
    ['crlGraceSeconds', resolved.crlGraceSeconds],
    ['maxChainCertificates', resolved.maxChainCertificates],
    ['maxIntermediates', resolved.maxIntermediates],
    ['maxCertificateBytes', resolved.maxCertificateBytes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new TypeError(`${name} must be a non-negative integer`);
  }
  return resolved;
}

function prepare(
  input: TrustStoreInput,
  options: ResolvedOptions,
  files?: TrustStoreFiles,
): Prepared {
  if (!Array.isArray(input.anchors) || input.anchors.length === 0) {
    throw new TrustStoreError('anchors', 'at least one trust anchor is required');
  }
  const load = (
    sources: readonly PkiSource[],
    kind: 'anchors' | 'intermediates',
  ): ParsedCertificate[] => {
    const seen = new Set<string>();
    const certificates: ParsedCertificate[] = [];
    sources.forEach((source, index) => {
      const field = files?.[kind]?.[index] ?? `${kind}[${index}]`;
      for (const der of derObjects(source, 'CERTIFICATE', field)) {
        let certificate: ParsedCertificate;
        try {
          certificate = parseCertificate(der, { maxBytes: options.maxCertificateBytes });
        } catch (error) {
          throw new TrustStoreError(field, (error as Error).message, { cause: error });
        }
        if (certificate.extensions.basicConstraints?.cA !== true || certificate.version !== 3) {
          throw new TrustStoreError(
            field,
            'not a CA certificate (basicConstraints cA is not TRUE)',
          );
        }
        const usage = certificate.extensions.keyUsage;
        if (usage !== undefined && !hasKeyUsage(usage, 'keyCertSign')) {
          throw new TrustStoreError(field, 'CA key usage lacks keyCertSign');
        }
        const keyProblem = spkiPolicyViolation(certificate.spki, options.keyPolicy);
        if (keyProblem !== undefined) throw new TrustStoreError(field, keyProblem);
        if (certificatePublicKey(certificate) === undefined) {
          throw new TrustStoreError(field, 'unsupported public key');
        }
        const profile = certificateProfileProblem(
          certificate,
          kind === 'anchors' ? 'anchor' : 'intermediate',
        );
        if (profile !== undefined) throw new TrustStoreError(field, profile.detail);
        if (certificate.extensions.refused.length > 0) {
          throw new TrustStoreError(
            field,
            `${certificate.extensions.refused.join(', ')} is not accepted`,
          );
        }
        if (certificate.extensions.unhandledCritical.length > 0) {
          throw new TrustStoreError(
            field,
            `unsupported critical extension ${certificate.extensions.unhandledCritical.join(', ')}`,
          );
        }
        if (kind === 'intermediates') {
          const signatureProblem = signatureAlgorithmViolation(certificate.signatureAlgorithm);
          if (signatureProblem !== undefined) throw new TrustStoreError(field, signatureProblem);
        }
        if (!seen.has(certificate.x5tS256)) certificates.push(certificate);
        seen.add(certificate.x5tS256);
      }
    });
    return certificates;
  };
  return {
    anchors: load(input.anchors, 'anchors'),
    intermediates: load(input.intermediates ?? [], 'intermediates'),
  };
}

/** Verifies each CRL against the configured CA named as its issuer and indexes it by CA. */
function indexCrls(
  sources: readonly PkiSource[],
  fields: readonly string[],
  cas: readonly ParsedCertificate[],
): Map<string, ParsedCrl> {
  const crls = new Map<string, ParsedCrl>();
  sources.forEach((source, index) => {
    const field = fields[index] ?? `crls[${index}]`;
    for (const der of derObjects(source, 'X509 CRL', field)) {
      let crl: ParsedCrl;
      try {
        crl = parseCrl(der);
      } catch (error) {
        throw new TrustStoreError(field, (error as Error).message, { cause: error });
      }
      const named = cas.filter((ca) => ca.subject.key === crl.issuer.key);
      if (named.length === 0) {
        throw new TrustStoreError(field, 'CRL issuer is not a configured anchor or intermediate');
      }
      const issuer = named.find((ca) => {
        const key = certificatePublicKey(ca) as KeyObject;
        return verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signature, key) === 'valid';
      });
      if (issuer === undefined) {
        throw new TrustStoreError(field, 'CRL signature does not verify with its issuer CA');
      }
      const usage = issuer.extensions.keyUsage;
      if (usage !== undefined && !hasKeyUsage(usage, 'cRLSign')) {
        throw new TrustStoreError(field, 'CRL issuer key usage lacks cRLSign');
      }
      const identity = caIdentity(issuer);
      const existing = crls.get(identity);
      // Several CRLs for one CA: the most recent one is the CA's current statement.
      if (existing === undefined || existing.thisUpdate < crl.thisUpdate) crls.set(identity, crl);
    }
  });
  return crls;
}

/** PEM text → its blocks; DER bytes → itself, unless they are PEM text in a file. */
function derObjects(source: PkiSource, label: string, field: string): Uint8Array[] {
  let text: string | undefined;
  if (typeof source === 'string') text = source;
  else if (looksLikePem(source)) text = Buffer.from(source).toString('utf8');
  if (text === undefined) return [source as Uint8Array];
  try {
    const blocks = decodePem(text, label);
    if (blocks.length === 0) throw new PkiError('malformed', `no ${label} PEM block`);
    return blocks;
  } catch (error) {
    throw new TrustStoreError(field, (error as Error).message, { cause: error });
  }
}

function looksLikePem(bytes: Uint8Array): boolean {
  // DER certificates and CRLs start with a SEQUENCE tag (0x30); PEM files start with text.
  return bytes.length > 0 && bytes[0] !== 0x30;
}

async function readAll(files: TrustStoreFiles): Promise<Map<string, Buffer>> {
  const paths = [...files.anchors, ...(files.intermediates ?? []), ...(files.crls ?? [])];
  const contents = new Map<string, Buffer>();
  await Promise.all(
    paths.map(async (path) => {
      try {
        contents.set(path, await readFile(path));
      } catch (error) {
        throw new TrustStoreError(path, 'cannot read file', { cause: error });
      }
    }),
  );
  return contents;
}

function hashAll(contents: ReadonlyMap<string, Buffer>): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const [path, content] of contents) {
    hashes.set(path, createHash('sha256').update(content).digest('hex'));
  }
  return hashes;
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
