/** Network helpers for tests: loopback only. */
import { type AddressInfo, createServer } from 'node:net';

/**
 * Ports {@link freePort} hands out: below Linux's default ephemeral range (32768-60999), so the
 * local port of an outgoing connection (any test's client, Redis, a spawned process's) cannot
 * take a port between the check here and the test's own listen, which the OS-chosen port 0 of
 * the check could (seen as EADDRINUSE in a CI run). Each vitest worker has its own slice, so two
 * files running at once never pick the same one; inside a slice the check skips ports a
 * lingering process still holds.
 */
const firstPort = 20_000;
const sliceSize = 500;
const slices = 24;
const slice = Number(process.env.VITEST_POOL_ID ?? process.pid) % slices;
let next = 0;

/** A TCP port free on 127.0.0.1 right now, from this worker's slice (see above). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < sliceSize; tried++) {
    const port = firstPort + slice * sliceSize + (next++ % sliceSize);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${firstPort + slice * sliceSize}+${sliceSize}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound === port));
    });
  });
}
