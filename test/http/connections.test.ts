/**
 * A listener's connections at shutdown, on a real socket: a request that reached its handler is
 * waited for (and reported when it cannot finish by the deadline: the process then exits 1);
 * idle and half-sent connections are closed, not waited for; a request that arrived while the
 * process stalled is read and answered, not reset as idle.
 *
 * No step waits a guessed time for something to happen: each waits for the event (accepted,
 * in the handler). The only fixed waits are lower bounds (longer than the grace).
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { idleGraceMs, ListenerConnections } from '../../src/http/connections.js';

const limits = {
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 30_000,
  perAddress: 10,
  maxConnections: 100,
};

/** Resolves once `condition()` holds, checking every 10 ms (bounded by the test's timeout). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A plain HTTP listener whose handler answers `/slow` only when told. */
async function listener() {
  const connections = new ListenerConnections(limits);
  let release: (() => void) | undefined;
  let slowStarted: () => void = () => {};
  /** Resolves when `/slow` is in its handler. */
  const slowInHandler = new Promise<void>((resolve) => {
    slowStarted = resolve;
  });
  const server = connections.createServer((request, response) => {
    connections.handlerStarted(request.socket as Socket, response);
    if (request.url === '/slow') {
      release = () => response.end('late');
      slowStarted();
      return;
    }
    response.end('ok');
  }, undefined);
  server.on('request', (request) => connections.requestStarted(request.socket as Socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const open = () =>
    new Promise<Socket>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', () => {});
    });
  return { connections, open, slowInHandler, release: () => release?.() };
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => socket.once('close', () => resolve()));

describe('ListenerConnections.close', () => {
  it('closes idle and half-sent connections and reports nothing running', async () => {
    const { connections, open } = await listener();
    const idle = await open();
    const half = await open();
    half.write('GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ab');
    await until(() => connections.size === 2);
    const bothClosed = Promise.all([closed(idle), closed(half)]);
    // A deadline far beyond the test's timeout: only the grace rule can close them in time.
    expect(await connections.close(Date.now() + 3_600_000)).toBe(0);
    await bothClosed;
  });

  it('waits for a request in its handler, which is answered', async () => {
    const { connections, open, slowInHandler, release } = await listener();
    const socket = await open();
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk;
    });
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await slowInHandler;
    const closing = connections.close(Date.now() + 10_000);
    setTimeout(release, idleGraceMs + 200);
    expect(await closing).toBe(0);
    expect(received).toMatch(/late$/);
  });

  it('reports a request still running at the deadline (exit 1) and closes it', async () => {
    const { connections, open, slowInHandler } = await listener();
    const socket = await open();
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await slowInHandler;
    const socketClosed = closed(socket);
    expect(await connections.close(Date.now() + 300)).toBe(1);
    await socketClosed;
  });

  it('answers a request that arrived while the process stalled past the grace, not resetting it as idle', async () => {
    const { connections, open } = await listener();
    const socket = await open();
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk;
    });
    const socketClosed = closed(socket);
    await until(() => connections.size === 1);
    // The request reaches the server's socket at once (loopback), but the process stalls before
    // reading it, past the grace since the connection was accepted: what a process starved of
    // CPU on a busy machine, or in a long GC pause, lives through. Shutdown begins right after.
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const stalledUntil = Date.now() + idleGraceMs + 200;
    while (Date.now() < stalledUntil) {
      // Blocking on purpose: no I/O is read meanwhile.
    }
    expect(await connections.close(Date.now() + 3_600_000)).toBe(0);
    await socketClosed;
    // Before, the first sweep ran ahead of the stalled read and reset the connection: nothing.
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  });

  it('closes connections past the per-address cap at once', async () => {
    const connections = new ListenerConnections({ ...limits, perAddress: 1 });
    let refused = 0;
    const counting = new ListenerConnections({
      ...limits,
      perAddress: 1,
      onRefused: () => refused++,
    });
    for (const one of [connections, counting]) {
      const server = one.createServer((_request, response) => response.end('ok'), undefined);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const first = connect(port, '127.0.0.1');
      await new Promise((resolve) => first.once('connect', resolve));
      const second = connect(port, '127.0.0.1');
      second.on('error', () => {});
      await closed(second);
      first.destroy();
      await one.close(Date.now());
    }
    expect(refused).toBe(1);
  });

  it('when full, closes the quietest connection without a request in its handler, never a serving one', async () => {
    let evicted = 0;
    let refused = 0;
    const connections = new ListenerConnections({
      ...limits,
      maxConnections: 2,
      onEvicted: () => evicted++,
      onRefused: () => refused++,
    });
    const held: Array<() => void> = [];
    const server = connections.createServer((request, response) => {
      connections.handlerStarted(request.socket as Socket, response);
      held.push(() => response.end('late'));
    }, undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const open = async () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    const serving = await open();
    serving.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 1);
    const quiet = await open();
    const quietClosed = closed(quiet);
    // Full: the quiet one makes room, the serving one is kept.
    const newcomer = await open();
    await quietClosed;
    expect(evicted).toBe(1);
    expect(serving.destroyed).toBe(false);
    const newcomerClosed = closed(newcomer);
    newcomer.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 2);
    // Both connections serving now: a newcomer is refused, nothing is evicted.
    const refusedOne = connect(port, '127.0.0.1');
    refusedOne.on('error', () => {});
    await closed(refusedOne);
    expect(refused).toBe(1);
    expect(evicted).toBe(1);
    for (const release of held) release();
    serving.destroy();
    newcomer.destroy();
    await newcomerClosed;
    await connections.close(Date.now());
  });
});
