/**
 * F3, the handshake ceiling: a bare node:https server with Tollgate's TLS settings (request a
 * client certificate, never reject at the handshake) that answers every request with a small
 * JSON body. Driven with a new connection per request, it measures full mutual-TLS handshakes.
 *
 * Usage: node floor-tls.mjs PORT CERT_FILE KEY_FILE [no-tickets]
 * Experiments: `no-tickets` sets SSL_OP_NO_TICKET (the cost of TLS 1.3 session tickets);
 * `no-client-cert` does not request a client certificate (the cost of the mutual part);
 * `with-ca=FILE` sets `ca` (client chains then verify in the handshake).
 */
import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { serverTlsOptions } from './lib.mjs';

const [port, certFile, keyFile, variant] = process.argv.slice(2);
const payload = Buffer.from('{"ok":true}');
const server = createServer(
  {
    ...serverTlsOptions(readFileSync(certFile), readFileSync(keyFile)),
    ...(variant === 'no-tickets' ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}),
    ...(variant === 'no-client-cert' ? { requestCert: false } : {}),
    ...(variant?.startsWith('with-ca=') ? { ca: readFileSync(variant.slice(8)) } : {}),
  },
  (request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': payload.length,
      });
      response.end(payload);
    });
  },
);
server.listen(Number(port), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
