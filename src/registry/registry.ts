/**
 * The client registry: every registered client, validated and prepared at load, looked up by
 * `client_id` on each request. A registry is immutable; reloading builds a new one and swaps it.
 */
import { readFileSync } from 'node:fs';
import { spiffeIdPatternsOverlap } from '../workload/spiffe-id.js';
import type { ClientMetadata } from './metadata.js';
import { prepareClient, type RegisteredClient, type ValidateOptions } from './validate.js';

/** The registry cannot be loaded; `problems` names each entry and field at fault. */
export class RegistryError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid client registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RegistryError';
    this.problems = problems;
  }
}

export class ClientRegistry {
  readonly #clients: ReadonlyMap<string, RegisteredClient>;

  constructor(clients: Iterable<RegisteredClient>) {
    this.#clients = new Map([...clients].map((client) => [client.clientId, client]));
  }

  /** The client registered under `clientId`, if any. */
  get(clientId: string): RegisteredClient | undefined {
    return this.#clients.get(clientId);
  }

  get size(): number {
    return this.#clients.size;
  }

  clients(): IterableIterator<RegisteredClient> {
    return this.#clients.values();
  }
}

export interface RegistrySource {
  /** Registry file: `{"clients": [ ...client metadata ]}`. */
  readonly file: string | null;
  /** Inline clients (from the config file). */
  readonly clients: readonly ClientMetadata[] | readonly unknown[];
}

/**
 * Reads and validates every client of the file and the inline list.
 *
 * @throws RegistryError listing every problem (entry index, client_id, field, reason).
 */
export function loadRegistry(source: RegistrySource, options: ValidateOptions): ClientRegistry {
  const entries: { where: string; value: unknown }[] = [];
  const problems: string[] = [];
  if (source.file !== null) {
    const document = readRegistryFile(source.file);
    const clients = (document as { clients?: unknown } | null)?.clients;
    if (typeof document !== 'object' || document === null || !Array.isArray(clients)) {
      throw new RegistryError([`${source.file}: must be a JSON object {"clients": [...]}`]);
    }
    for (const [index, value] of clients.entries()) {
      entries.push({ where: `${source.file}: clients[${index}]`, value });
    }
  }
  for (const [index, value] of source.clients.entries()) {
    entries.push({ where: `registry.clients[${index}]`, value });
  }

  const prepared: RegisteredClient[] = [];
  const seen = new Map<string, string>();
  for (const { where, value } of entries) {
    const id = (value as { client_id?: unknown } | null)?.client_id;
    const label = typeof id === 'string' ? `${where} (${JSON.stringify(id)})` : where;
    const result = prepareClient(value, options);
    if ('problems' in result) {
      for (const message of result.problems) problems.push(`${label}: ${message}`);
      continue;
    }
    const previous = seen.get(result.client.clientId);
    if (previous !== undefined) {
      problems.push(`${label}: duplicate client_id, already registered at ${previous}`);
      continue;
    }
    seen.set(result.client.clientId, where);
    prepared.push(result.client);
  }
  problems.push(...workloadIdentityClashes(prepared));
  if (problems.length > 0) throw new RegistryError(problems);
  return new ClientRegistry(prepared);
}

/**
 * Two clients may not claim one workload: no SPIFFE ID may match two clients' `spiffe_id`
 * (exact or `/*`), and no (source, subject) pair may be registered twice. Pairwise over the
 * SPIFFE clients: load time only, and registries are small.
 */
function workloadIdentityClashes(clients: readonly RegisteredClient[]): string[] {
  const problems: string[] = [];
  const spiffe: {
    clientId: string;
    pattern: import('../workload/spiffe-id.js').SpiffeIdPattern;
  }[] = [];
  const federated = new Map<string, string>();
  for (const client of clients) {
    const identity = client.workloadIdentity;
    if (identity === undefined) continue;
    if (identity.kind === 'spiffe') {
      const clash = spiffe.find((other) =>
        spiffeIdPatternsOverlap(other.pattern, identity.pattern),
      );
      if (clash !== undefined) {
        problems.push(
          `${JSON.stringify(client.clientId)}: spiffe_id ${identity.pattern.value} overlaps ${clash.pattern.value} of ${JSON.stringify(clash.clientId)}: two clients cannot claim the same workload`,
        );
      }
      spiffe.push({ clientId: client.clientId, pattern: identity.pattern });
    } else {
      const key = `${identity.source}\n${identity.subject}`;
      const previous = federated.get(key);
      if (previous !== undefined) {
        problems.push(
          `${JSON.stringify(client.clientId)}: federated_identity (${identity.source}, ${identity.subject}) is already registered for ${JSON.stringify(previous)}`,
        );
      }
      federated.set(key, client.clientId);
    }
  }
  return problems;
}

function readRegistryFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RegistryError([
      `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RegistryError([`${file}: not valid JSON (${(error as Error).message})`]);
  }
}
