/**
 * EXAMPLES.md is read last and run command by command: its housekeeping block must leave every
 * demo client the guides use (README.md, docs/, examples/) usable. It revoked demo-mtls, which
 * `ensure` does not re-issue and `client demo-mtls --force` re-registers without its
 * allowed_resources.
 */
import { describe, expect, it } from 'vitest';
import { buildExamples } from '../../src/dev-ca/examples.js';

describe('EXAMPLES.md housekeeping', () => {
  it('revokes a client of its own, never a demo client', async () => {
    const planned = await buildExamples({
      dir: '/nonexistent',
      displayDir: 'certs',
      issuer: 'https://localhost:8443',
      registry: { clients: [] },
    });
    const content = String(planned.content);
    const housekeeping = content.slice(content.indexOf('## Housekeeping'));
    const revoked = [...housekeeping.matchAll(/dev-ca -- revoke (\S+)/g)].map((m) => m[1]);
    expect(revoked).toEqual(['demo-revoked']);
    expect(housekeeping).toContain(
      'npm run dev-ca -- client demo-revoked && npm run dev-ca -- revoke demo-revoked',
    );
  });
});
