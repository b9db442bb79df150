/**
 * The per-connection cache, over a real mTLS socket (dev CA certificates) and with stand-in sockets
 * for renegotiation and clock behaviour.
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  PeerCertificateCache,
  type PeerCertificateSocket,
  TrustStore,
} from '../../src/pki/index.js';

/** A socket stand-in whose peer certificate can change (as after a renegotiation). */
function fakeSocket(initial: Buffer | undefined, chain: readonly Buffer[] = []) {
  let current = initial;
  const socket: PeerCertificateSocket & { reads: number; set(der: Buffer | undefined): void } = {
    reads: 0,
    set(der) {
      current = der;
    },
    getPeerX509Certificate() {
      return current === undefined ? undefined : new X509Certificate(current);
    },
    getPeerCertificate() {
      socket.reads++;
      if (current === undefined) return {};
      // Node's shape: issuerCertificate links, the root pointing at itself.
      const nodes = [current, ...chain].map((raw) => ({
        raw,
        issuerCertificate: undefined as unknown,
      }));
      nodes.forEach((node, index) => {
        node.issuerCertificate = nodes[index + 1] ?? node;
      });
      return nodes[0];
    },
  };
  return socket;
}

describe('PeerCertificateCache', () => {
  let ca: DevCa;
  let store: TrustStore;
  beforeAll(async () => {
    ca = await createDevCa();
    store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
  });

  it('reads the leaf and the chain from a real mTLS socket, once per connection', async () => {
    const server = await ca.issueServer();
    const client = await ca.issueClient({ clientId: 'tls-client' });
    const cache = new PeerCertificateCache();
    const tlsServer = createServer({
      cert: server.chainPem,
      key: server.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    const accepted = once(tlsServer, 'secureConnection');
    const socket = connect({
      host: '127.0.0.1',
      port: (tlsServer.address() as AddressInfo).port,
      ca: ca.root.certPem,
      servername: 'localhost',
      cert: client.chainPem,
      key: client.keyPem,
    });
    try {
      const [serverSide] = (await accepted) as [TLSSocket];
      const peer = cache.peer(serverSide);

      expect(peer?.leaf.x5tS256).toBe(client.x5tS256);
      expect(peer?.chain.map((certificate) => certificate.x5tS256)).toEqual([
        ca.intermediate.x5tS256,
      ]);
      expect(cache.peer(serverSide)).toBe(peer);
      const first = cache.validate(serverSide, store, { now: new Date() });
      expect(first?.ok).toBe(true);
      expect(cache.validate(serverSide, store, { now: new Date() })).toBe(first);
    } finally {
      socket.destroy();
      tlsServer.close();
    }
  });

  it('returns null without a client certificate', () => {
    const cache = new PeerCertificateCache();
    expect(cache.peer(fakeSocket(undefined))).toBeNull();
    expect(cache.validate(fakeSocket(undefined), store, { now: new Date() })).toBeNull();
  });

  it('starts over when the peer certificate changes on the same socket', async () => {
    const a = await ca.issueClient({ clientId: 'a' });
    const b = await ca.issueClient({ clientId: 'b' });
    const socket = fakeSocket(a.certDer, [ca.intermediate.certDer, ca.root.certDer]);
    const cache = new PeerCertificateCache();
    expect(cache.peer(socket)?.leaf.x5tS256).toBe(a.x5tS256);
    expect(cache.peer(socket)?.chain).toHaveLength(2);
    expect(socket.reads).toBe(1);
    socket.set(b.certDer);
    expect(cache.peer(socket)?.leaf.x5tS256).toBe(b.x5tS256);
    expect(socket.reads).toBe(2);
    socket.set(undefined);
    expect(cache.peer(socket)).toBeNull();
  });

  it('keys results by store and pins, and re-validates when time moves past them', async () => {
    const leaf = await ca.issueClient({ clientId: 'timed' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer]);
    const cache = new PeerCertificateCache();
    const now = new Date();
    const first = cache.validate(socket, store, { now });
    expect(first?.ok).toBe(true);
    const pinned = cache.validate(socket, store, { now, pinnedSpkiSha256: ['nope'] });
    expect(pinned?.ok === false && pinned.reason).toBe('pin_mismatch');
    expect(cache.validate(socket, store, { now, pinnedSpkiSha256: ['nope'] })).toBe(pinned);
    const otherStore = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    expect(cache.validate(socket, otherStore, { now })).not.toBe(first);
    const expired = cache.validate(socket, store, {
      now: new Date(leaf.notAfter.getTime() + 1000),
    });
    expect(expired?.ok === false && expired.reason).toBe('expired');
  });

  it('does not cache not_yet_valid', async () => {
    const leaf = await ca.issueClient({ clientId: 'early' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer]);
    const cache = new PeerCertificateCache();
    const early = cache.validate(socket, store, { now: new Date(leaf.notBefore.getTime() - 1000) });
    expect(early?.ok === false && early.reason).toBe('not_yet_valid');
    expect(cache.validate(socket, store, { now: leaf.notBefore })?.ok).toBe(true);
  });

  it('refuses a connection that sent too many certificates', async () => {
    const leaf = await ca.issueClient({ clientId: 'chatty' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer, ca.root.certDer]);
    const cache = new PeerCertificateCache({ maxChainCertificates: 1 });
    expect(() => cache.peer(socket)).toThrow(/too many/);
    expect(cache.validate(socket, store, { now: new Date() })?.ok).toBe(false);
  });
});
