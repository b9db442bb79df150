/**
 * The per-connection cache over real mutual TLS sockets on 127.0.0.1 (dev CA certificates): the
 * chain read from `issuerCertificate` links, TLS 1.3 reuse without re-reading, TLS 1.2 re-reads,
 * results shared between connections, a new store (CRL) re-validating. Stand-in sockets cover a
 * TLS 1.2 renegotiation that changes the certificate, which a Node client cannot perform.
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  ChainCache,
  PeerCertificateCache,
  type PeerCertificateSocket,
  sessionPeerCertificate,
  TrustStore,
} from '../../src/pki/index.js';
import { ctx, ctxPrimitive, int, octets, seq } from './der-builder.js';
import { leafSignedBy } from './fixtures.js';

/** An X509Certificate-shaped stand-in: `raw` and `issuerCertificate` links, as Node gives them. */
function x509Of(leaf: Buffer, chain: readonly Buffer[]): X509Certificate {
  const nodes = [leaf, ...chain].map((raw) => ({ raw, issuerCertificate: undefined as unknown }));
  nodes.forEach((node, index) => {
    node.issuerCertificate = nodes[index + 1];
  });
  return nodes[0] as unknown as X509Certificate;
}

/** A socket stand-in whose peer certificate can change (as after a TLS 1.2 renegotiation). */
function fakeSocket(
  initial: Buffer | undefined,
  chain: readonly Buffer[] = [],
  protocol = 'TLSv1.2',
) {
  let current = initial;
  let currentChain = chain;
  const socket: PeerCertificateSocket & {
    reads: number;
    set(der: Buffer | undefined, chain?: readonly Buffer[]): void;
  } = {
    reads: 0,
    set(der, nextChain = []) {
      current = der;
      currentChain = nextChain;
    },
    getPeerX509Certificate() {
      socket.reads++;
      return current === undefined ? undefined : x509Of(current, currentChain);
    },
    getProtocol: () => protocol,
  };
  return socket;
}

interface Connection {
  readonly serverSide: TLSSocket;
  /** How often the cache read the certificate from the server-side socket. */
  readonly reads: () => number;
  close(): void;
}

describe('PeerCertificateCache', () => {
  let ca: DevCa;
  let store: TrustStore;
  let tlsServer: ReturnType<typeof createServer>;
  let port: number;

  beforeAll(async () => {
    ca = await createDevCa();
    store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const server = await ca.issueServer();
    // Like Tollgate's listeners: ask for a certificate, never reject at the handshake.
    tlsServer = createServer({
      cert: server.chainPem,
      key: server.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    port = (tlsServer.address() as AddressInfo).port;
  });
  afterAll(() => {
    tlsServer.close();
  });

  /** Receives the next connection's TLS session (ticket), when a test sets it. */
  let ticketSink: ((session: Buffer) => void) | undefined;

  async function connection(
    options: {
      cert?: string;
      key?: string;
      maxVersion?: 'TLSv1.2' | 'TLSv1.3';
      session?: Buffer;
    } = {},
  ): Promise<Connection> {
    const accepted = once(tlsServer, 'secureConnection');
    const client = connect({
      host: '127.0.0.1',
      port,
      ca: ca.root.certPem,
      servername: 'localhost',
      ...options,
    });
    const sink = ticketSink;
    ticketSink = undefined;
    if (sink !== undefined) client.once('session', sink);
    const [serverSide] = (await accepted) as [TLSSocket];
    const spy = vi.spyOn(serverSide, 'getPeerX509Certificate');
    return {
      serverSide,
      reads: () => spy.mock.calls.length,
      close: () => client.destroy(),
    };
  }

  it('reads the chain from issuerCertificate links and reuses it on TLS 1.3 without re-reading', async () => {
    const client = await ca.issueClient({ clientId: 'tls13' });
    const cache = new PeerCertificateCache();
    const conn = await connection({ cert: client.chainPem, key: client.keyPem });
    try {
      expect(conn.serverSide.getProtocol()).toBe('TLSv1.3');
      const peer = cache.peer(conn.serverSide);
      expect(peer?.leaf.x5tS256).toBe(client.x5tS256);
      expect(peer?.chain.map((certificate) => certificate.x5tS256)).toEqual([
        ca.intermediate.x5tS256,
      ]);
      const first = cache.validate(conn.serverSide, store, { now: new Date() });
      expect(first?.ok).toBe(true);
      // Keep-alive requests: the same entry and result, and the socket is not read again.
      for (let request = 0; request < 3; request++) {
        expect(cache.peer(conn.serverSide)).toBe(peer);
        expect(cache.validate(conn.serverSide, store, { now: new Date() })).toBe(first);
      }
      expect(conn.reads()).toBe(1);
    } finally {
      conn.close();
    }
  });

  it('reads a leaf-only client with an empty chain (configured intermediates complete it)', async () => {
    const client = await ca.issueClient({ clientId: 'leaf-only' });
    const cache = new PeerCertificateCache();
    const conn = await connection({ cert: client.certPem, key: client.keyPem });
    try {
      const peer = cache.peer(conn.serverSide);
      expect(peer?.leaf.x5tS256).toBe(client.x5tS256);
      expect(peer?.chain).toEqual([]);
      const anchorsOnly = cache.validate(conn.serverSide, store, { now: new Date() });
      expect(anchorsOnly?.ok === false && anchorsOnly.reason).toBe('untrusted');
      const withIntermediate = TrustStore.fromPem({
        anchors: [ca.root.certPem],
        intermediates: [ca.intermediate.certPem],
      });
      expect(cache.validate(conn.serverSide, withIntermediate, { now: new Date() })?.ok).toBe(true);
    } finally {
      conn.close();
    }
  });

  it('reads leaf, intermediate and root, stopping at the root', async () => {
    const client = await ca.issueClient({ clientId: 'whole-chain' });
    const cache = new PeerCertificateCache();
    const conn = await connection({ cert: client.chainPem + ca.root.certPem, key: client.keyPem });
    try {
      expect(cache.peer(conn.serverSide)?.chain.map((certificate) => certificate.x5tS256)).toEqual([
        ca.intermediate.x5tS256,
        ca.root.x5tS256,
      ]);
    } finally {
      conn.close();
    }
  });

  it('re-reads the certificate on every TLS 1.2 request', async () => {
    const client = await ca.issueClient({ clientId: 'tls12' });
    const cache = new PeerCertificateCache();
    const conn = await connection({
      cert: client.chainPem,
      key: client.keyPem,
      maxVersion: 'TLSv1.2',
    });
    try {
      expect(conn.serverSide.getProtocol()).toBe('TLSv1.2');
      const peer = cache.peer(conn.serverSide);
      expect(peer?.chain).toHaveLength(1);
      const first = cache.validate(conn.serverSide, store, { now: new Date() });
      expect(first?.ok).toBe(true);
      expect(cache.peer(conn.serverSide)).toBe(peer);
      expect(cache.validate(conn.serverSide, store, { now: new Date() })).toBe(first);
      expect(conn.reads()).toBe(4);
    } finally {
      conn.close();
    }
  });

  it('starts over when a TLS 1.2 peer certificate changes on the same socket', async () => {
    const a = await ca.issueClient({ clientId: 'a' });
    const b = await ca.issueClient({ clientId: 'b' });
    const socket = fakeSocket(a.certDer, [ca.intermediate.certDer, ca.root.certDer]);
    const cache = new PeerCertificateCache();
    expect(cache.peer(socket)?.leaf.x5tS256).toBe(a.x5tS256);
    expect(cache.peer(socket)?.chain).toHaveLength(2);
    expect(cache.validate(socket, store, { now: new Date() })?.ok).toBe(true);
    // A renegotiation to another certificate (a foreign, self-issued one here): refused.
    const foreign = await createDevCa();
    const c = await foreign.issueClient({ clientId: 'c' });
    socket.set(c.certDer, [foreign.intermediate.certDer]);
    const changed = cache.validate(socket, store, { now: new Date() });
    expect(changed?.ok === false && changed.reason).toBe('untrusted');
    expect(cache.peer(socket)?.leaf.x5tS256).toBe(c.x5tS256);
    socket.set(b.certDer, [ca.intermediate.certDer]);
    expect(cache.peer(socket)?.leaf.x5tS256).toBe(b.x5tS256);
    expect(cache.peer(socket)?.chain).toHaveLength(1);
    socket.set(undefined);
    expect(cache.peer(socket)).toBeNull();
    expect(cache.validate(socket, store, { now: new Date() })).toBeNull();
  });

  it('shares the parse and the result between connections presenting the same certificates', async () => {
    const client = await ca.issueClient({ clientId: 'reconnects' });
    const cache = new PeerCertificateCache();
    const validate = vi.spyOn(store, 'validate');
    const one = await connection({ cert: client.chainPem, key: client.keyPem });
    const two = await connection({ cert: client.chainPem, key: client.keyPem });
    try {
      const now = new Date();
      const first = cache.validate(one.serverSide, store, { now });
      expect(first?.ok).toBe(true);
      expect(cache.peer(two.serverSide)).toBe(cache.peer(one.serverSide));
      expect(cache.validate(two.serverSide, store, { now })).toBe(first);
      expect(validate).toHaveBeenCalledTimes(1);
    } finally {
      validate.mockRestore();
      one.close();
      two.close();
    }
  });

  it('refuses a certificate revoked by a new CRL on the next request, though cached before', async () => {
    const ownCa = await createDevCa();
    const client = await ownCa.issueClient({ clientId: 'to-revoke' });
    const now = new Date();
    const before = TrustStore.fromPem({
      anchors: [ownCa.root.certPem],
      intermediates: [ownCa.intermediate.certPem],
      crls: [(await ownCa.crls({ now })).combinedPem],
    });
    const chains = new ChainCache();
    const cache = new PeerCertificateCache({ chains });
    const socket = fakeSocket(client.certDer, [ownCa.intermediate.certDer], 'TLSv1.3');
    expect(cache.validate(socket, before, { now })?.ok).toBe(true);
    expect(cache.validate(socket, before, { now })?.ok).toBe(true);
    ownCa.revoke({ certPem: client.certPem }, 'keyCompromise', now);
    const after = before.withCrls([(await ownCa.crls({ now })).combinedPem]);
    const revoked = cache.validate(socket, after, { now });
    expect(revoked?.ok === false && revoked.reason).toBe('revoked');
    // And on a new connection with the same certificate: the shared entry, the new store.
    const next = fakeSocket(client.certDer, [ownCa.intermediate.certDer], 'TLSv1.3');
    expect(cache.validate(next, after, { now })).toBe(revoked);
    expect(chains.size).toBe(1);
  });

  it('keys results by store and pins, and re-validates when time moves past recheckAfter', async () => {
    const leaf = await ca.issueClient({ clientId: 'timed' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer], 'TLSv1.3');
    const cache = new PeerCertificateCache();
    const now = new Date();
    const first = cache.validate(socket, store, { now });
    expect(first?.ok).toBe(true);
    if (first?.ok !== true) return;
    const pinned = cache.validate(socket, store, { now, pinnedSpkiSha256: ['nope'] });
    expect(pinned?.ok === false && pinned.reason).toBe('pin_mismatch');
    expect(cache.validate(socket, store, { now, pinnedSpkiSha256: ['nope'] })).toBe(pinned);
    const otherStore = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    expect(cache.validate(socket, otherStore, { now })).not.toBe(first);
    expect(cache.validate(socket, store, { now: first.recheckAfter })).toBe(first);
    const expired = cache.validate(socket, store, {
      now: new Date(first.recheckAfter.getTime() + 1000),
    });
    expect(expired?.ok === false && expired.reason).toBe('expired');
  });

  it('does not cache not_yet_valid', async () => {
    const leaf = await ca.issueClient({ clientId: 'early' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer], 'TLSv1.3');
    const cache = new PeerCertificateCache();
    const early = cache.validate(socket, store, { now: new Date(leaf.notBefore.getTime() - 1000) });
    expect(early?.ok === false && early.reason).toBe('not_yet_valid');
    expect(cache.validate(socket, store, { now: leaf.notBefore })?.ok).toBe(true);
  });

  it('refuses a connection that sent too many certificates', async () => {
    const leaf = await ca.issueClient({ clientId: 'chatty' });
    const socket = fakeSocket(leaf.certDer, [ca.intermediate.certDer, ca.root.certDer]);
    const chains = new ChainCache();
    const cache = new PeerCertificateCache({ maxChainCertificates: 1, chains });
    expect(() => cache.peer(socket)).toThrow(/too many/);
    const result = cache.validate(socket, store, { now: new Date() });
    expect(result?.ok === false && result.reason).toBe('malformed');
    expect(chains.size).toBe(0);
  });

  it('stops at a certificate that links to itself or repeats', async () => {
    const leaf = await ca.issueClient({ clientId: 'loop' });
    const root = { raw: ca.root.certDer, issuerCertificate: undefined as unknown };
    root.issuerCertificate = { raw: ca.root.certDer, issuerCertificate: root };
    const intermediate = { raw: ca.intermediate.certDer, issuerCertificate: root };
    const x509 = {
      raw: leaf.certDer,
      issuerCertificate: intermediate,
    } as unknown as X509Certificate;
    const cache = new PeerCertificateCache();
    const socket = { getPeerX509Certificate: () => x509, getProtocol: () => 'TLSv1.3' };
    expect(cache.peer(socket)?.chain.map((certificate) => certificate.x5tS256)).toEqual([
      ca.intermediate.x5tS256,
      ca.root.x5tS256,
    ]);
  });

  it('offers a resumed session (leaf only) the chain its leaf came with on a full handshake', async () => {
    const client = await ca.issueClient({ clientId: 'resumed' });
    const resumed = () => ({
      ...fakeSocket(client.certDer, [], 'TLSv1.3'),
      isSessionReused: () => true,
    });
    const cache = new PeerCertificateCache();
    // No full handshake seen yet: a resumed connection has only what the configured store knows.
    const before = cache.validate(resumed(), store, { now: new Date() });
    expect(before?.ok === false && before.reason).toBe('untrusted');
    // A full handshake that sent the chain, with a request that validates nothing (metadata)...
    cache.peer(fakeSocket(client.certDer, [ca.intermediate.certDer], 'TLSv1.3'));
    // ...lends it to the next resumed connection of that leaf, which is validated in full.
    const after = resumed();
    expect(cache.peer(after)?.chain.map((certificate) => certificate.x5tS256)).toEqual([
      ca.intermediate.x5tS256,
    ]);
    expect(cache.validate(after, store, { now: new Date() })?.ok).toBe(true);
    // Revocation is still noticed on a resumed connection: the path is validated again.
    // (A CRL needs its issuer configured, so this store knows the intermediate too.)
    ca.revoke({ certPem: client.certPem }, 'keyCompromise');
    const withCrl = TrustStore.fromPem({
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
      crls: [(await ca.crls()).combinedPem],
    });
    const revoked = cache.validate(resumed(), withCrl, { now: new Date() });
    expect(revoked?.ok === false && revoked.reason).toBe('revoked');
    // A connection that is not resumed gets no borrowed chain.
    expect(cache.peer(fakeSocket(client.certDer, [], 'TLSv1.3'))?.chain).toEqual([]);
  });

  it('keeps validated chains apart: strangers presenting chains push out only presented ones', async () => {
    const validated = await ca.issueClient({ clientId: 'kept' });
    const presented = await ca.issueClient({ clientId: 'pushed-out' });
    const resumedOf = (der: Buffer) => ({
      ...fakeSocket(der, [], 'TLSv1.3'),
      isSessionReused: () => true,
    });
    const cache = new PeerCertificateCache({ maxSessionChains: 1 });
    const full = fakeSocket(validated.certDer, [ca.intermediate.certDer], 'TLSv1.3');
    expect(cache.validate(full, store, { now: new Date() })?.ok).toBe(true);
    cache.peer(fakeSocket(presented.certDer, [ca.intermediate.certDer], 'TLSv1.3'));
    // A stranger completes a handshake with its own leaf and chain (one entry per tier here).
    const stranger = await (await createDevCa()).issueClient({ clientId: 'stranger' });
    cache.peer(fakeSocket(stranger.certDer, [ca.root.certDer], 'TLSv1.3'));
    expect(cache.peer(resumedOf(presented.certDer))?.chain).toEqual([]);
    expect(
      cache.peer(resumedOf(validated.certDer))?.chain.map((certificate) => certificate.x5tS256),
    ).toEqual([ca.intermediate.x5tS256]);
  });

  it('takes a known leaf on a new TLS 1.3 connection from its session, without reading the sent chain', async () => {
    const ownCa = await createDevCa();
    const client = await ownCa.issueClient({ clientId: 'reconnects-often' });
    const now = new Date();
    const withCrl = TrustStore.fromPem({
      anchors: [ownCa.root.certPem],
      intermediates: [ownCa.intermediate.certPem],
      crls: [(await ownCa.crls({ now })).combinedPem],
    });
    const cache = new PeerCertificateCache();
    const options = { cert: client.chainPem, key: client.keyPem };
    const first = await connection(options);
    const second = await connection(options);
    const third = await connection(options);
    try {
      // A leaf never seen: the full read (the chain the client sent).
      expect(cache.validate(first.serverSide, withCrl, { now })?.ok).toBe(true);
      expect(first.reads()).toBe(1);
      // Seen and validated: the leaf comes from the session, the chain is the one that
      // validated, and the socket's certificates are never read.
      const peer = cache.peer(second.serverSide);
      expect(peer?.leaf.x5tS256).toBe(client.x5tS256);
      expect(peer?.chain.map((certificate) => certificate.x5tS256)).toEqual([
        ownCa.intermediate.x5tS256,
      ]);
      expect(cache.validate(second.serverSide, withCrl, { now })?.ok).toBe(true);
      expect(second.reads()).toBe(0);
      // Revocation is noticed on such a connection as on any: the path is validated again, and
      // the chain the client sent is read (and refused) too.
      ownCa.revoke({ certPem: client.certPem }, 'keyCompromise', now);
      const revokedStore = withCrl.withCrls([(await ownCa.crls({ now })).combinedPem]);
      const revoked = cache.validate(third.serverSide, revokedStore, { now });
      expect(revoked?.ok === false && revoked.reason).toBe('revoked');
      expect(third.reads()).toBe(1);
    } finally {
      first.close();
      second.close();
      third.close();
    }
  });

  it("takes a resumed TLS 1.3 connection's leaf from its session: each client its own, the socket unread", async () => {
    const ownCa = await createDevCa();
    const alice = await ownCa.issueClient({ clientId: 'alice' });
    const bob = await ownCa.issueClient({ clientId: 'bob' });
    const now = new Date();
    // The intermediate is not configured: the resumed connections validate only with the chain
    // their leaf came with on the full handshake.
    const anchorOnly = TrustStore.fromPem({ anchors: [ownCa.root.certPem] });
    const cache = new PeerCertificateCache();
    const opened: { close(): void }[] = [];
    /** A full handshake, then a connection resuming its session, for one client. */
    async function fullThenResumed(client: typeof alice) {
      const options = { cert: client.chainPem, key: client.keyPem };
      const session = new Promise<Buffer>((resolve) => {
        ticketSink = resolve;
      });
      const full = await connection(options);
      opened.push(full);
      expect(cache.validate(full.serverSide, anchorOnly, { now })?.ok).toBe(true);
      const resumed = await connection({ ...options, session: await session });
      opened.push(resumed);
      expect(resumed.serverSide.isSessionReused()).toBe(true);
      expect(resumed.serverSide.getProtocol()).toBe('TLSv1.3');
      return resumed;
    }
    try {
      const aliceResumed = await fullThenResumed(alice);
      const bobResumed = await fullThenResumed(bob);
      // Interleaved, so a cache keyed wrongly would hand one client the other's leaf.
      for (const [conn, client] of [
        [bobResumed, bob],
        [aliceResumed, alice],
      ] as const) {
        const peer = cache.peer(conn.serverSide);
        expect(peer?.leaf.der).toEqual(client.certDer);
        expect(peer?.leaf.x5tS256).toBe(client.x5tS256);
        expect(peer?.chain.map((certificate) => certificate.x5tS256)).toEqual([
          ownCa.intermediate.x5tS256,
        ]);
        expect(cache.validate(conn.serverSide, anchorOnly, { now })?.ok).toBe(true);
        // The leaf came from the session: getPeerX509Certificate() was never called.
        expect(conn.reads()).toBe(0);
        // It is the certificate Node's own read gives for that socket, byte for byte.
        expect(conn.serverSide.getPeerX509Certificate()?.raw).toEqual(client.certDer);
      }
      // Revocation is noticed on the resumed connection: its path is validated again.
      ownCa.revoke({ certPem: bob.certPem }, 'keyCompromise', now);
      const revokedStore = TrustStore.fromPem({
        anchors: [ownCa.root.certPem],
        intermediates: [ownCa.intermediate.certPem],
        crls: [(await ownCa.crls({ now })).combinedPem],
      });
      const revoked = cache.validate(bobResumed.serverSide, revokedStore, { now });
      expect(revoked?.ok === false && revoked.reason).toBe('revoked');
      expect(cache.validate(aliceResumed.serverSide, revokedStore, { now })?.ok).toBe(true);
      // And expiry: the same path, checked at a time after the leaf's notAfter.
      const later = new Date(new X509Certificate(alice.certPem).validTo);
      later.setUTCDate(later.getUTCDate() + 1);
      const expired = cache.validate(aliceResumed.serverSide, anchorOnly, { now: later });
      expect(expired?.ok).toBe(false);
    } finally {
      for (const conn of opened) conn.close();
    }
  });

  it('reads the sent chain when the remembered one does not validate (a cross-signed intermediate)', async () => {
    // The client's intermediate key is certified by two roots; each store trusts one of them.
    const otherCa = await createDevCa();
    // Issued before `now` is read: a leaf's notBefore is its issue time, truncated to the second,
    // and a leaf issued in the second after `now` is not yet valid at `now` (a flake).
    const client = await ca.issueClient({ clientId: 'cross-signed' });
    const now = new Date();
    const crossSigned = await leafSignedBy(otherCa.root as Required<typeof otherCa.root>, now, {
      subject: ca.intermediate.subject,
      ca: true,
      key: {
        spkiDer: Buffer.from(
          new X509Certificate(ca.intermediate.certPem).publicKey.export({
            type: 'spki',
            format: 'der',
          }),
        ),
        privateKeyPem: ca.intermediate.keyPem as string,
      },
    });
    const cache = new PeerCertificateCache();
    const viaOwnRoot = await connection({ cert: client.chainPem, key: client.keyPem });
    const viaOtherRoot = await connection({
      cert: client.certPem + crossSigned.pem,
      key: client.keyPem,
    });
    try {
      expect(cache.validate(viaOwnRoot.serverSide, store, { now })?.ok).toBe(true);
      // The remembered chain (the intermediate under the first root) does not reach the other
      // root: the shortcut gives way to what this connection sent, which does.
      const otherStore = TrustStore.fromPem({ anchors: [otherCa.root.certPem] });
      const result = cache.validate(viaOtherRoot.serverSide, otherStore, { now });
      expect(result?.ok).toBe(true);
      expect(viaOtherRoot.reads()).toBe(1);
      expect(cache.peer(viaOtherRoot.serverSide)?.chain[0]?.der).toEqual(crossSigned.der);
    } finally {
      viaOwnRoot.close();
      viaOtherRoot.close();
    }
  });

  it('finds no certificate on a TLS 1.3 connection whose client sent none, and looks once', async () => {
    const cache = new PeerCertificateCache();
    const conn = await connection();
    const sessionReads = vi.spyOn(conn.serverSide, 'getSession');
    try {
      expect(conn.serverSide.getProtocol()).toBe('TLSv1.3');
      expect(cache.peer(conn.serverSide)).toBeNull();
      expect(cache.validate(conn.serverSide, store, { now: new Date() })).toBeNull();
      // Keep-alive requests of a private_key_jwt client on this connection: still no
      // certificate, and neither the session nor the socket is read again (round 25: every
      // such request read both, about 25 µs).
      for (let request = 0; request < 3; request++) {
        expect(cache.peer(conn.serverSide)).toBeNull();
        expect(cache.validate(conn.serverSide, store, { now: new Date() })).toBeNull();
      }
      expect(conn.reads()).toBe(1);
      expect(sessionReads.mock.calls.length).toBe(1);
    } finally {
      conn.close();
    }
  });

  it('keeps looking on a TLS 1.2 connection without a certificate (a renegotiation may add one)', async () => {
    const cache = new PeerCertificateCache();
    const conn = await connection({ maxVersion: 'TLSv1.2' });
    try {
      expect(conn.serverSide.getProtocol()).toBe('TLSv1.2');
      expect(cache.peer(conn.serverSide)).toBeNull();
      expect(cache.peer(conn.serverSide)).toBeNull();
      expect(conn.reads()).toBe(2);
      // A stand-in for the renegotiation a Node client cannot perform: a certificate appears.
      const client = await ca.issueClient({ clientId: 'renegotiated' });
      const socket = fakeSocket(undefined, [], 'TLSv1.2');
      expect(cache.peer(socket)).toBeNull();
      socket.set(Buffer.from(new X509Certificate(client.certPem).raw));
      expect(cache.peer(socket)?.leaf.x5tS256).toBe(client.x5tS256);
    } finally {
      conn.close();
    }
  });

  it('reads the peer leaf from a TLS 1.2 or 1.3 session, and nothing from a session without one', async () => {
    const client = await ca.issueClient({ clientId: 'session' });
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const conn = await connection({ cert: client.chainPem, key: client.keyPem, maxVersion });
      try {
        const session = conn.serverSide.getSession();
        const leaf = sessionPeerCertificate(session);
        expect(leaf?.equals(client.certDer), maxVersion).toBe(true);
        // The session (a TLS 1.2 master secret among it) does not outlive the read.
        expect(session?.every((byte) => byte === 0)).toBe(true);
      } finally {
        conn.close();
      }
    }
    const withoutPeer = Buffer.from(
      seq(
        int(1),
        int(0x0304),
        octets(Buffer.from([0x13, 0x01])),
        octets(),
        octets(),
        ctx(4, octets()),
      ),
    );
    expect(sessionPeerCertificate(withoutPeer)).toBeUndefined();
    expect(sessionPeerCertificate(Buffer.from([0x30, 0x05, 0x02]))).toBeUndefined();
    expect(sessionPeerCertificate(Buffer.from(ctx(3, int(1))))).toBeUndefined();
    expect(sessionPeerCertificate(Buffer.from(seq(ctx(3, int(1)))))).toBeUndefined();
    expect(sessionPeerCertificate(Buffer.from(seq(ctxPrimitive(3, int(1)))))).toBeUndefined();
    expect(sessionPeerCertificate(Buffer.from(seq(int(1), int(2))))).toBeUndefined();
    expect(sessionPeerCertificate(undefined)).toBeUndefined();
  });

  it('refuses, never serves either, when the session and the socket name different leaves', async () => {
    // Cannot happen with OpenSSL (both read the session's peer); a stand-in shows it fails closed.
    const known = await ca.issueClient({ clientId: 'in-session' });
    const other = await ca.issueClient({ clientId: 'on-socket' });
    const cache = new PeerCertificateCache();
    const full = fakeSocket(known.certDer, [ca.intermediate.certDer], 'TLSv1.3');
    expect(cache.validate(full, store, { now: new Date() })?.ok).toBe(true);
    const mismatched = {
      ...fakeSocket(other.certDer, [ca.intermediate.certDer], 'TLSv1.3'),
      getSession: () => Buffer.from(seq(int(1), ctx(3, known.certDer))),
    };
    // The session's leaf is known: the shortcut. Under a store its remembered chain does not
    // reach, the socket is read, names another leaf, and the connection is refused.
    expect(cache.peer(mismatched)?.leaf.x5tS256).toBe(known.x5tS256);
    const foreign = TrustStore.fromPem({ anchors: [(await createDevCa()).root.certPem] });
    const result = cache.validate(mismatched, foreign, { now: new Date() });
    expect(result?.ok === false && result.reason).toBe('malformed');
    expect(() => cache.peer(mismatched)).toThrow(/changed/);
  });

  it('refuses a certificate that does not parse', async () => {
    const socket = fakeSocket(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), [], 'TLSv1.3');
    const cache = new PeerCertificateCache();
    expect(() => cache.peer(socket)).toThrow();
    const result = cache.validate(socket, store, { now: new Date() });
    expect(result?.ok === false && result.check).toBe('parse');
  });
});
