/** Minting: one binding per token (RFC 8705 §3.1 or RFC 9449 §6.1), never both. */
import { describe, expect, it } from 'vitest';
import {
  AccessTokenIssuer,
  generateSigningJwk,
  prepareSigningKeys,
} from '../../src/tokens/index.js';
import { claimsOf } from '../helpers/mtls.js';

describe('AccessTokenIssuer bindings', () => {
  const mintWith = async (binding: { certificateThumbprint?: string; dpopJkt?: string }) => {
    const jwk = await generateSigningJwk('ES256');
    const keys = prepareSigningKeys({ active_kid: jwk.kid, keys: [jwk] }, 'ES256');
    const issuer = new AccessTokenIssuer({ issuer: 'https://as.test', signer: () => keys.signer });
    return issuer.mint({
      clientId: 'c',
      audience: 'https://api.test',
      scopes: [],
      lifetimeSeconds: 60,
      certificateThumbprint: binding.certificateThumbprint,
      dpopJkt: binding.dpopJkt,
      nowMs: Date.now(),
    });
  };

  it('binds to a DPoP key with cnf.jkt', async () => {
    expect(claimsOf((await mintWith({ dpopJkt: 'thumb' })).accessToken).cnf).toEqual({
      jkt: 'thumb',
    });
  });

  it('refuses to bind one token twice', async () => {
    await expect(mintWith({ dpopJkt: 'a', certificateThumbprint: 'b' })).rejects.toThrow(TypeError);
  });
});
