/**
 * What reading a client certificate costs on a new server-side TLS socket (docs/benchmarks.md,
 * round 24): Node's peer-certificate reads one by one, then Tollgate's `PeerCertificateCache`
 * (`remember` + `peer` + `validate`, as on a token request) for a client it has seen before.
 * Median over N new mutual-TLS connections per read, after N more as warm-up (so that V8 has
 * optimized the JavaScript, as in a server that has been running: a few hundred calls still run
 * partly interpreted), the client sending leaf + intermediate (or only its leaf with
 * `--leaf-only`), dev CA certificates, 127.0.0.1 only.
 *
 * `--resumed`: every connection resumes the previous one's TLS 1.3 session (a ticket), as S5's
 * do; the reads are then of a resumed socket, which carries the leaf alone (round 25).
 *
 * Usage: npm run build && node scripts/bench/peer-certificate.mjs [N] [--leaf-only] [--resumed]
 * Bounded: 2 x N connections per read (N default 500, at most 5,000), one at a time, 10 s each at
 * most.
 */
import { performance } from 'node:perf_hooks';
import { connect, createServer } from 'node:tls';

const dist = (path) => new URL(`../../dist/${path}`, import.meta.url).href;
const { createDevCa } = await import(dist('dev-ca/index.js'));
const { ChainCache, PeerCertificateCache, TrustStore, sessionPeerCertificate } = await import(
  dist('pki/index.js')
);

const count = Math.min(5_000, Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 500));
const leafOnly = process.argv.includes('--leaf-only');
const resume = process.argv.includes('--resumed');
const ca = await createDevCa();
const serverCert = await ca.issueServer();
const client = await ca.issueClient({ clientId: 'peer-certificate-bench' });
const store = TrustStore.fromPem({
  anchors: [ca.root.certPem],
  intermediates: [ca.intermediate.certPem],
  crls: [(await ca.crls()).combinedPem],
});

function walkChain(x509) {
  let current = x509.issuerCertificate;
  while (current !== undefined && current !== null) {
    void current.raw;
    current = current.issuerCertificate === current ? undefined : current.issuerCertificate;
  }
}

const chains = new ChainCache();
const cache = new PeerCertificateCache({ chains });
/** Tollgate's cache on one connection: its certificate, and the result a token request needs. */
function tokenRequestReads(peers, socket) {
  peers.remember(socket);
  peers.peer(socket);
  if (peers.validate(socket, store, { now: new Date() })?.ok !== true) {
    throw new Error('the bench client does not validate');
  }
}
/** Each read, as Tollgate's code or Node's API does it on the `secureConnection` socket. */
const reads = {
  'getPeerX509Certificate() + issuerCertificate walk': (socket) => {
    const x509 = socket.getPeerX509Certificate();
    void x509.raw;
    walkChain(x509);
  },
  'getPeerCertificate(false)': (socket) => void socket.getPeerCertificate(false).raw,
  'getPeerCertificate(true)': (socket) => void socket.getPeerCertificate(true).raw,
  'getSession()': (socket) => void socket.getSession(),
  ...(sessionPeerCertificate === undefined
    ? {}
    : {
        'sessionPeerCertificate(getSession())': (socket) =>
          void sessionPeerCertificate(socket.getSession()),
      }),
  // A cache that has not seen the leaf reads the sent chain: what every new connection did
  // before round 24 (the parse and the result still come from the shared chain cache).
  'PeerCertificateCache, full read (chain-cache hit)': (socket) =>
    tokenRequestReads(new PeerCertificateCache({ chains }), socket),
  'PeerCertificateCache, a leaf that validated before': (socket) =>
    tokenRequestReads(cache, socket),
};

let read;
const times = [];
const server = createServer(
  {
    cert: serverCert.chainPem,
    key: serverCert.keyPem,
    requestCert: true,
    rejectUnauthorized: false,
  },
  (socket) => {
    if (resume && socket.isSessionReused() !== true) {
      // The first connection of each read (and any ticket that did not resume) is a full
      // handshake: it gives the cache its validated chain, and is not timed.
      read(socket);
      socket.end('ok');
      return;
    }
    const started = performance.now();
    read(socket);
    times.push(performance.now() - started);
    // A byte of application data, so that the TLS 1.3 session tickets go out before the close.
    socket.end('ok');
  },
);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();

let lastSession;
function oneConnection() {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      cert: leafOnly ? client.certPem : client.chainPem,
      key: client.keyPem,
      ...(resume && lastSession !== undefined ? { session: lastSession } : {}),
    });
    if (resume) socket.on('session', (session) => (lastSession = session));
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
    socket.on('close', resolve);
    socket.resume();
  });
}

console.log(
  `median µs over ${count} ${resume ? 'resumed' : 'new'} TLS 1.3 connections, client sends ${leafOnly ? 'its leaf only' : 'leaf + intermediate'}`,
);
for (const [name, fn] of Object.entries(reads)) {
  read = fn;
  for (let index = 0; index < count; index++) await oneConnection();
  times.length = 0;
  for (let index = 0; index < count; index++) await oneConnection();
  const sorted = times.sort((a, b) => a - b);
  console.log(
    `${(sorted[sorted.length >> 1] * 1000).toFixed(1).padStart(8)}  ${name}  (${sorted.length} timed)`,
  );
}
server.close();
