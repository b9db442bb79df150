/**
 * Identity-matching tests over real mutual TLS: a dev CA without name constraints (so every
 * refusal comes from identity matching alone), a certificate issued by it for each named case,
 * and a Tollgate whose clients authenticate with `tls_client_auth` by the identity fields given.
 * Used by the look-alike and case-mapping attack suites (test/features).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssueClientOptions } from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from './mtls.js';

/** A client certificate chain and its key, PEM. */
export interface PresentedIdentity {
  readonly cert: string;
  readonly key: string;
}

/** One registered identity: a `tls_client_auth_subject_dn` or one `tls_client_auth_san_*`. */
export type TlsClientIdentity = Readonly<Record<string, string>>;

export interface IdentityTollgate<Id extends string> {
  readonly ca: DevCa;
  readonly server: MtlsTollgate;
  /** A client_credentials request as `clientId`, presenting the certificate named `name`. */
  request(name: string, clientId: Id): Promise<TokenResult>;
  dispose(): Promise<void>;
}

/**
 * Starts the CA and the server. `certificates` are issued by the CA under their names;
 * `presented` adds chains made otherwise (forgeries, the CA's own certificate), given the CA.
 */
export async function startIdentityTollgate<Id extends string>(options: {
  /** Each client's identity, by client_id (a function when it depends on the CA). */
  readonly clients:
    | Readonly<Record<Id, TlsClientIdentity>>
    | ((ca: DevCa) => Record<Id, TlsClientIdentity>);
  readonly certificates: Iterable<readonly [name: string, options: IssueClientOptions]>;
  readonly presented?: (ca: DevCa) => Promise<Record<string, PresentedIdentity>>;
}): Promise<IdentityTollgate<Id>> {
  // No name constraints: the refusals must come from identity matching alone.
  const ca = await createDevCa({ permittedSubtrees: [] });
  const presented = new Map<string, PresentedIdentity>();
  for (const [name, issue] of options.certificates) {
    const issued = await ca.issueClient(issue);
    presented.set(name, { cert: issued.chainPem, key: issued.keyPem });
  }
  for (const [name, identity] of Object.entries((await options.presented?.(ca)) ?? {})) {
    presented.set(name, identity);
  }
  const clients = typeof options.clients === 'function' ? options.clients(ca) : options.clients;
  const server = await startMtlsTollgate({
    ca,
    clients: Object.entries<TlsClientIdentity>(clients).map(([clientId, identity]) => ({
      client_id: clientId,
      token_endpoint_auth_method: 'tls_client_auth',
      scope: 'read',
      ...identity,
    })),
  });
  return {
    ca,
    server,
    request: (name, clientId) => {
      const identity = presented.get(name);
      if (identity === undefined) throw new Error(`no certificate named ${name}`);
      return server.token({ grant_type: 'client_credentials', client_id: clientId }, identity);
    },
    dispose: () => server.dispose(),
  };
}

/** [what, the client it tries to be, the certificate it presents] */
export type IdentityCase<Id extends string> = readonly [
  what: string,
  clientId: Id,
  certificate: IssueClientOptions,
];

/**
 * A suite of identity cases against one server: every attack certificate is refused as the
 * client it tries to be, with exactly `refusal(clientId)`; every genuine one gets a token for
 * its client.
 */
export function describeIdentityCases<Id extends string>(
  title: string,
  options: {
    readonly clients: Readonly<Record<Id, TlsClientIdentity>>;
    readonly attacks: readonly IdentityCase<Id>[];
    readonly genuine: readonly IdentityCase<Id>[];
    readonly refusal: (clientId: Id) => string;
    /** The title of each attack test (`%s`: what, then the client). */
    readonly attackTitle?: string;
  },
): void {
  describe(title, () => {
    let tollgate: IdentityTollgate<Id>;

    beforeAll(async () => {
      tollgate = await startIdentityTollgate({
        clients: options.clients,
        certificates: [...options.attacks, ...options.genuine].map(
          ([name, , certificate]) => [name, certificate] as const,
        ),
      });
    });
    afterAll(async () => {
      await tollgate?.dispose();
    });

    it.each(options.attacks)(options.attackTitle ?? 'refuses %s as %s', async (name, clientId) => {
      expectClientRefused(await tollgate.request(name, clientId), options.refusal(clientId));
    });

    it.each(options.genuine)('authenticates %s as %s', async (name, clientId) => {
      expectTokenFor(await tollgate.request(name, clientId), clientId);
    });
  });
}

/** The request was refused as a failed client authentication, with exactly this description. */
export function expectClientRefused(result: TokenResult, description: string): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.status).toBe(401);
  expect(result.error).toBe('invalid_client');
  expect(result.errorDescription).toBe(description);
}

/** The request got a token for `clientId`. */
export function expectTokenFor(result: TokenResult, clientId: string): void {
  expect(result.ok, JSON.stringify(result)).toBe(true);
  if (!result.ok) return;
  expect(claimsOf(result.accessToken).client_id).toBe(clientId);
}
