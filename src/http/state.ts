/**
 * The parts of a running Tollgate that files define and that reload without a restart: the
 * client registry, the client-certificate trust store (anchors, intermediates, CRLs), the
 * signing keys and the TLS listeners' certificate and key. Each part is rebuilt whole and swapped in one assignment, so a request sees
 * either the old or the new state, never a mix; a new file that does not load keeps the old
 * state and is reported.
 *
 * Files are polled (mtime, size, inode: cheap, and robust to editors and secret mounts that
 * replace files by rename, where inotify watches go stale); SIGHUP reloads at once.
 */
import { statSync } from 'node:fs';
import {
  type Config,
  ConfigError,
  type ConfigProblem,
  servingMaterialProblems,
} from '../config/index.js';
import type { JwsSigner } from '../jws/index.js';
import type { TrustStore } from '../pki/index.js';
import type { ClientRegistry } from '../registry/index.js';
import {
  checkKeyReload,
  KeyReloadRefusedError,
  KeyUse,
  loadSigningKeys,
  type SigningKeySet,
} from '../tokens/index.js';
import type { ServerIdentity } from './server-identity.js';

export type ReloadPart = 'registry' | 'trust_store' | 'signing_keys' | 'server_certificate';

/** What one part's reload did. */
export interface ReloadOutcome {
  readonly part: ReloadPart;
  readonly outcome: 'reloaded' | 'unchanged' | 'failed';
  readonly error?: unknown;
}

export interface ServerStateLoaders {
  readonly registry: (config: Config) => ClientRegistry;
  readonly trustStore: (config: Config) => Promise<TrustStore | undefined>;
  /** Cross-checks a candidate registry against the trust store; problems refuse the reload. */
  readonly check: (registry: ClientRegistry, trustStore: TrustStore | undefined) => ConfigProblem[];
  /**
   * The TLS certificate and key read at start, and how to read and check them again (absent:
   * no TLS listener, as in `inject()` tests). `load` runs on reload when `tls.certFile` or
   * `tls.keyFile` changed.
   */
  readonly serverIdentity?: {
    readonly initial: ServerIdentity;
    readonly load: (config: Config) => ServerIdentity;
  };
  /** Wall clock, epoch ms (default `Date.now`): judges whether a dropped key's tokens expired. */
  readonly now?: () => number;
}

export class ServerState {
  readonly #config: Config;
  readonly #loaders: ServerStateLoaders;
  #registry: ClientRegistry;
  #trustStore: TrustStore | undefined;
  #keys: SigningKeySet;
  /** The active key's signer, recording what it signed (see `key-reload.ts`). */
  #signer: JwsSigner;
  readonly #keyUse = new KeyUse();
  /** When a key file change refused only until tokens expire is tried again, epoch ms. */
  #keysRetryAtMs: number | undefined;
  #serverIdentity: ServerIdentity | undefined;
  #jwksJson: string;
  #fingerprints: Map<string, string>;
  #reloading: Promise<ReloadOutcome[]> | undefined;

  private constructor(
    config: Config,
    loaders: ServerStateLoaders,
    registry: ClientRegistry,
    trustStore: TrustStore | undefined,
    keys: SigningKeySet,
  ) {
    this.#config = config;
    this.#loaders = loaders;
    this.#registry = registry;
    this.#trustStore = trustStore;
    this.#keys = keys;
    this.#signer = this.#keyUse.track(keys.signer);
    this.#serverIdentity = loaders.serverIdentity?.initial;
    this.#jwksJson = JSON.stringify(keys.publicJwks);
    this.#fingerprints = this.#currentFingerprints();
  }

  /** Loads every part; any failure here stops start-up. */
  static async load(config: Config, loaders: ServerStateLoaders): Promise<ServerState> {
    const registry = loaders.registry(config);
    const trustStore = await loaders.trustStore(config);
    const problems = loaders.check(registry, trustStore);
    if (problems.length > 0) throw new ConfigError(problems);
    const keysFile = config.signingKeys.file;
    if (keysFile === null) {
      throw new ConfigError(
        servingMaterialProblems(config).filter((p) => p.path === 'signingKeys.file'),
      );
    }
    const keys = loadSigningKeys(keysFile, config.accessToken.signingAlg);
    return new ServerState(config, loaders, registry, trustStore, keys);
  }

  get registry(): ClientRegistry {
    return this.#registry;
  }

  get trustStore(): TrustStore | undefined {
    return this.#trustStore;
  }

  get keys(): SigningKeySet {
    return this.#keys;
  }

  /** Signs with the active key; use it rather than `keys.signer`, so reloads know what it signed. */
  get signer(): JwsSigner {
    return this.#signer;
  }

  /** The TLS certificate and key being served (undefined without a TLS listener). */
  get serverIdentity(): ServerIdentity | undefined {
    return this.#serverIdentity;
  }

  /** The public JWKS, serialized once per key set. */
  get jwksJson(): string {
    return this.#jwksJson;
  }

  /**
   * Reloads what changed (`force`: everything, as on SIGHUP). Concurrent calls share one run.
   */
  reload(force: boolean): Promise<ReloadOutcome[]> {
    this.#reloading ??= this.#reload(force).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(force: boolean): Promise<ReloadOutcome[]> {
    const fingerprints = this.#currentFingerprints();
    const changed = (file: string | null) =>
      force || (file !== null && fingerprints.get(file) !== this.#fingerprints.get(file));
    const outcomes: ReloadOutcome[] = [];

    // Trust store first: a registry that adds tls_client_auth clients is checked against it.
    const previousStore = this.#trustStore;
    try {
      const next =
        previousStore === undefined
          ? await this.#loaders.trustStore(this.#config)
          : await previousStore.reload();
      this.#trustStore = next;
      outcomes.push({
        part: 'trust_store',
        outcome: next === previousStore ? 'unchanged' : 'reloaded',
      });
    } catch (error) {
      outcomes.push({ part: 'trust_store', outcome: 'failed', error });
    }

    const registryFile = this.#config.registry.file;
    if (changed(registryFile)) {
      try {
        const registry = this.#loaders.registry(this.#config);
        const problems = this.#loaders.check(registry, this.#trustStore);
        if (problems.length > 0) throw new ConfigError(problems);
        this.#registry = registry;
        outcomes.push({ part: 'registry', outcome: 'reloaded' });
      } catch (error) {
        outcomes.push({ part: 'registry', outcome: 'failed', error });
      }
    } else {
      outcomes.push({ part: 'registry', outcome: 'unchanged' });
    }

    const keysFile = this.#config.signingKeys.file;
    const nowMs = (this.#loaders.now ?? Date.now)();
    const retryKeys = this.#keysRetryAtMs !== undefined && nowMs >= this.#keysRetryAtMs;
    if (keysFile !== null && (changed(keysFile) || retryKeys)) {
      this.#keysRetryAtMs = undefined;
      try {
        const keys = loadSigningKeys(keysFile, this.#config.accessToken.signingAlg);
        checkKeyReload(this.#keys, keys, {
          nowMs,
          longestLifetimeSeconds: this.#longestTokenLifetimeSeconds(),
          use: this.#keyUse,
        });
        this.#jwksJson = JSON.stringify(keys.publicJwks);
        this.#keys = keys;
        this.#signer = this.#keyUse.track(keys.signer);
        this.#keyUse.retain(new Set(keys.publicKeys.keys()));
        outcomes.push({ part: 'signing_keys', outcome: 'reloaded' });
      } catch (error) {
        // Refused only until tokens expire: try the same file again then, without a SIGHUP.
        if (error instanceof KeyReloadRefusedError) this.#keysRetryAtMs = error.retryAtMs;
        outcomes.push({ part: 'signing_keys', outcome: 'failed', error });
      }
    } else {
      outcomes.push({ part: 'signing_keys', outcome: 'unchanged' });
    }

    const loadIdentity = this.#loaders.serverIdentity;
    const { certFile, keyFile } = this.#config.tls;
    if (loadIdentity !== undefined && (changed(certFile) || changed(keyFile))) {
      try {
        const next = loadIdentity.load(this.#config);
        const previous = this.#serverIdentity;
        // The same bytes (a SIGHUP, a touched file): keep the TLS context, and with it the
        // session ticket keys, so clients keep resuming.
        const same =
          previous !== undefined &&
          next.cert.equals(previous.cert) &&
          next.key.equals(previous.key);
        if (!same) this.#serverIdentity = next;
        outcomes.push({ part: 'server_certificate', outcome: same ? 'unchanged' : 'reloaded' });
      } catch (error) {
        outcomes.push({ part: 'server_certificate', outcome: 'failed', error });
      }
    } else {
      outcomes.push({ part: 'server_certificate', outcome: 'unchanged' });
    }

    // Remember what was seen even when loading failed: a broken file is reported once, not on
    // every poll, and the next edit is noticed.
    this.#fingerprints = fingerprints;
    return outcomes;
  }

  /** The longest access-token lifetime the current configuration and registry issue, seconds. */
  #longestTokenLifetimeSeconds(): number {
    let longest = this.#config.accessToken.lifetimeSeconds;
    for (const client of this.#registry.clients())
      longest = Math.max(longest, client.accessTokenLifetimeSeconds ?? 0);
    return longest;
  }

  #currentFingerprints(): Map<string, string> {
    const files = [
      this.#config.registry.file,
      this.#config.signingKeys.file,
      ...(this.#loaders.serverIdentity === undefined
        ? []
        : [this.#config.tls.certFile, this.#config.tls.keyFile]),
    ].filter((file) => file !== null);
    return new Map(files.map((file) => [file, fingerprint(file)]));
  }
}

function fingerprint(file: string): string {
  try {
    const stat = statSync(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return 'missing';
  }
}
