/**
 * private_key_jwt rules the HTTP suites do not reach, driven on the authenticator directly:
 * a missing assertion type, misuse of the API, replay-store failures, NumericDate checks, and key
 * lookup through a client's jwks_uri (refresh on an unknown kid, fetch failures).
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client-auth/index.js';
import { generateSigningJwk, type SigningJwk } from '../../src/dev-ca/index.js';
import { OAuthError } from '../../src/errors/index.js';
import {
  type ClientKey,
  importClientJwks,
  type RegisteredClient,
  type RemoteKeySet,
} from '../../src/registry/index.js';
import { MemoryReplayStore, type ReplayStore } from '../../src/replay/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { clientOf, issuer, privateKeyJwtOf, registryOf, requestOf } from './support.js';

const assertionRequest = (assertion: string) =>
  requestOf({ client_assertion_type: jwtBearerAssertionType, client_assertion: assertion });

describe('private_key_jwt, on the authenticator', () => {
  let key: SigningJwk;
  let other: SigningJwk;
  let es384: SigningJwk;
  let inline: RegisteredClient;
  beforeAll(async () => {
    key = await generateSigningJwk('ES256');
    other = await generateSigningJwk('ES256');
    es384 = await generateSigningJwk('ES384');
    inline = clientOf(
      registryOf([
        {
          client_id: 'svc-inline',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          jwks: { keys: [key.publicJwk] },
        },
      ]),
      'svc-inline',
    );
  });

  /** identify() then authenticate(), as the dispatcher does. */
  async function run(
    assertion: string,
    client: RegisteredClient,
    replayStore?: ReplayStore,
  ): Promise<unknown> {
    const authenticator = privateKeyJwtOf(replayStore === undefined ? {} : { replayStore });
    const request = assertionRequest(assertion);
    const claimed = authenticator.identify(request);
    expect(claimed.clientId).toBe(client.clientId);
    return authenticator.authenticate(request, client, claimed);
  }

  it('requires client_assertion_type with client_assertion', () => {
    const attempt = () => privateKeyJwtOf().identify(requestOf({ client_assertion: 'a.b.c' }));
    expect(attempt).toThrow(OAuthError);
    expect(attempt).toThrow(
      expect.objectContaining({
        code: 'invalid_request',
        reason: 'missing_parameter',
        description: 'client_assertion_type is required with client_assertion',
      }),
    );
  });

  it('authenticate() alone (the ClientAuthenticator interface) reads the assertion itself', async () => {
    const jti = randomUUID();
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer, {
      claims: { jti },
    });
    await expect(
      privateKeyJwtOf().authenticate(assertionRequest(assertion), inline),
    ).resolves.toMatchObject({ client: { clientId: 'svc-inline' }, jti });
    await expect(
      privateKeyJwtOf().authenticate(assertionRequest('a.b'), inline),
    ).rejects.toMatchObject({ reason: 'assertion_malformed' });
  });

  it('accepts a valid assertion and reports its jti', async () => {
    const jti = randomUUID();
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer, {
      claims: { jti },
    });
    await expect(run(assertion, inline)).resolves.toEqual({
      client: inline,
      method: 'private_key_jwt',
      jti,
      legacyAudience: false,
    });
  });

  it('answers 503 replay_store_unavailable when the store cannot decide', async () => {
    const store = new MemoryReplayStore({ maxEntries: 10 });
    await store.close();
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer);
    const error = await run(assertion, inline, store).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({
      code: 'temporarily_unavailable',
      reason: 'replay_store_unavailable',
      status: 503,
      description: 'The server cannot record client assertions right now; retry later.',
    });
    expect((error as OAuthError).retryAfterSeconds).toBeTypeOf('number');
  });

  it('lets an unexpected replay-store failure through untouched (it becomes server_error)', async () => {
    const failure = new Error('store bug');
    const store: ReplayStore = {
      claim: () => Promise.reject(failure),
      ready: () => true,
      close: () => Promise.resolve(),
    };
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer);
    await expect(run(assertion, inline, store)).rejects.toBe(failure);
  });

  it.each([
    ['iat', 'a string', 'client_assertion iat must be a NumericDate'],
    ['iat', -1, 'client_assertion iat must be a NumericDate'],
    ['nbf', 'soon', 'client_assertion nbf must be a NumericDate'],
    ['exp', 'later', 'client_assertion exp must be a NumericDate'],
  ])('refuses %s = %j as assertion_malformed', async (claim, value, description) => {
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer, {
      claims: { [claim]: value },
    });
    await expect(run(assertion, inline)).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'assertion_malformed',
      description,
    });
  });

  it('without a kid, says no registered key fits the alg', async () => {
    const assertion = await signAssertion(es384.privateJwk, 'svc-inline', issuer, {
      header: { kid: undefined },
    });
    await expect(run(assertion, inline)).rejects.toMatchObject({
      reason: 'assertion_key_not_found',
      description: expect.stringMatching(/^no registered key of this client fits ES384: sign with/),
    });
  });

  it('fails closed for a prepared client without keys', async () => {
    const assertion = await signAssertion(key.privateJwk, 'svc-inline', issuer);
    await expect(run(assertion, { ...inline, keys: { kind: 'none' } })).rejects.toMatchObject({
      reason: 'assertion_key_not_found',
      description: 'no registered key of this client matches the kid',
    });
  });

  describe('with a jwks_uri', () => {
    const keysOf = (...jwks: SigningJwk[]): ClientKey[] =>
      importClientJwks({ keys: jwks.map((jwk) => jwk.publicJwk) });

    function remoteClient(remote: RemoteKeySet): RegisteredClient {
      return clientOf(
        registryOf(
          [
            {
              client_id: 'svc-remote',
              token_endpoint_auth_method: 'private_key_jwt',
              grant_types: ['client_credentials'],
              jwks_uri: 'https://keys.example/jwks.json',
            },
          ],
          () => remote,
        ),
        'svc-remote',
      );
    }

    it('refetches once for an unknown kid and verifies with the fresh set', async () => {
      const remote = {
        get: vi.fn(async () => keysOf(other)),
        refreshForUnknownKid: vi.fn(async () => keysOf(other, key)),
      };
      const assertion = await signAssertion(key.privateJwk, 'svc-remote', issuer);
      await expect(run(assertion, remoteClient(remote))).resolves.toMatchObject({
        method: 'private_key_jwt',
      });
      expect(remote.get).toHaveBeenCalledTimes(1);
      expect(remote.refreshForUnknownKid).toHaveBeenCalledTimes(1);
    });

    it('refuses an unknown kid when the refetch is throttled', async () => {
      const remote = {
        get: vi.fn(async () => keysOf(other)),
        refreshForUnknownKid: vi.fn(async () => undefined),
      };
      const assertion = await signAssertion(key.privateJwk, 'svc-remote', issuer);
      await expect(run(assertion, remoteClient(remote))).rejects.toMatchObject({
        reason: 'assertion_key_not_found',
        description: 'no registered key of this client matches the kid',
      });
      expect(remote.refreshForUnknownKid).toHaveBeenCalledTimes(1);
    });

    it('does not refetch for an assertion without a kid', async () => {
      const remote = {
        get: vi.fn(async () => keysOf(other)),
        refreshForUnknownKid: vi.fn(async () => keysOf(key)),
      };
      const assertion = await signAssertion(es384.privateJwk, 'svc-remote', issuer, {
        header: { kid: undefined },
      });
      await expect(run(assertion, remoteClient(remote))).rejects.toMatchObject({
        reason: 'assertion_key_not_found',
        description: expect.stringMatching(
          /^no registered key of this client fits ES384: sign with/,
        ),
      });
      expect(remote.refreshForUnknownKid).not.toHaveBeenCalled();
    });

    it('answers jwks_fetch_failed, keeping the cause, when the key set cannot be fetched', async () => {
      const failure = new Error('connect ECONNREFUSED');
      const remote = {
        get: vi.fn(async (): Promise<ClientKey[]> => {
          throw failure;
        }),
        refreshForUnknownKid: vi.fn(async () => undefined),
      };
      const assertion = await signAssertion(key.privateJwk, 'svc-remote', issuer);
      const error = await run(assertion, remoteClient(remote)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({
        code: 'invalid_client',
        reason: 'jwks_fetch_failed',
        description: "the client's jwks_uri could not be fetched",
      });
      expect((error as OAuthError).cause).toBe(failure);
    });
  });
});
