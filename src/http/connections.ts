/**
 * Connections of one listener: the per-address cap, the slow-client timeouts, one request at a
 * time per connection, and the shutdown that loses nothing (issue 12, attacks 6 and 8).
 *
 * - Slow clients: the server is created with `requestTimeout` = `headersTimeout` (headers and
 *   body of a request must both arrive within it) and a 500 ms check interval (Node's default
 *   is 30 s, which is why a 15 s timeout used to bite at 30 to 90 s); idle keep-alive connections
 *   have their own `keepAliveTimeout`.
 * - Pipelining: Node hands every pipelined request to the handler as soon as it is parsed, so one
 *   connection could put a whole read's worth of requests (a hundred per TLS record) into the
 *   handlers at once, where Fastify then answered only the first. Here a request waits until the
 *   one before it on its connection has been answered, and a connection with more than
 *   {@link maxPipelinedRequests} requests waiting is closed.
 * - Per-address cap: a peer address (IPv6 by /64) holding `perAddress` connections has any
 *   further one closed at once; trusted proxies are exempt (every client arrives through them).
 * - Full listener: `maxConnections` bounds the listener as a whole, and when it is reached a new
 *   connection is taken in by closing the one that has been quiet longest among those with no
 *   request in a handler (idle keep-alive, a handshake, headers or body still trickling in, an
 *   answer written and waiting for the peer to read it), never by refusing the newcomer: refusing
 *   let anyone with `maxConnections / perAddress` addresses hold every slot with connections that
 *   never send a byte (each held until the handshake or request timeout, then simply reopened)
 *   and switch the listener off for everyone. A newcomer is refused only when every connection
 *   has a request in its handler.
 * - Slow readers: an answer the handler has written must reach the peer's socket within
 *   `requestTimeoutMs`, or the connection is closed ({@link ConnectionLimits.requestTimeoutMs}).
 *   Node applies no timeout to writing a response, and a request was "in its handler" until its
 *   answer had left the process: a client that asks and never reads (a receive window of zero,
 *   after a few dozen small answers have filled the kernel's buffers on the way) held its
 *   connection as "serving" for good, never evicted and never timed out, so 16 such connections
 *   from 4 addresses switched a listener of 16 off for everyone (round 25).
 * - Open files: each connection holds a file descriptor, and a process that runs out of them
 *   cannot accept, read a file or even sample its memory (Node throws EMFILE from timers, which
 *   ended the process). So `maxConnections` is lowered to what the open-file limit leaves
 *   ({@link connectionFileBudget}): the eviction above then keeps a full listener serving, instead
 *   of connections from a few dozen addresses exhausting the descriptors. An accept that fails all
 *   the same is reported (`onAcceptError`), never left to crash the process.
 * - Shutdown: {@link ListenerConnections.close} stops accepting, lets every request that reached
 *   its handler finish (its response says `Connection: close`), and closes a connection as soon
 *   as it has carried no request for {@link idleGraceMs}: idle keep-alive connections, and
 *   half-sent ones (headers or body still dribbling) that no handler is waiting for. "Carried no
 *   request" is judged on what the process has read: a connection is closed only when it was
 *   already idle that long at the sweep before, with the event loop's I/O phase in between. A
 *   sweep right after a stall of the process (CPU starvation, a long GC pause) runs before the
 *   stalled reads, and used to reset connections whose request had arrived during the stall,
 *   within the grace (a client that sent its request right after the handshake saw a reset).
 *
 * Bound: one entry per open connection (a few numbers, about 100 bytes, plus at most
 * {@link maxPipelinedRequests} waiting requests), at most `maxConnections`; the per-address
 * counts hold at most one entry per open connection too.
 */

import { readdirSync, readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type OutgoingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { readProxyHeader } from './proxy-protocol.js';
import { addressKey } from './rate-limits.js';
import { answerExpectation } from './reply.js';

/** A PROXY header must arrive within this (as a TLS handshake must, after it). */
const proxyHeaderTimeoutMs = 10_000;
/** After the listener closed, a connection that carried no request for this long is closed. */
export const idleGraceMs = 1000;
/** How often Node checks request timeouts, and the shutdown sweep runs. */
const checkIntervalMs = 500;
/**
 * Most pipelined requests one connection may have waiting behind the one being answered; one
 * more closes the connection. HTTP/1.1 clients that pipeline at all send a few.
 */
export const maxPipelinedRequests = 16;

export interface ConnectionLimits {
  /** Headers and body of a request must arrive within it, and its written answer leave within it. */
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly perAddress: number;
  readonly maxConnections: number;
  /** Peers exempt from the per-address cap (trusted proxies, on the plain listener). */
  readonly exempt?: (address: string) => boolean;
  /**
   * TLS listeners with `proxy.proxyProtocol`: peers (trusted layer-4 balancers) whose connections
   * start with a PROXY header; the address it names is the connection's (see proxy-protocol.ts).
   */
  readonly proxyProtocol?: (peer: string) => boolean;
  /** A connection over the per-address cap (or to a listener busy to the last slot) was closed. */
  readonly onRefused?: () => void;
  /** A quiet connection was closed to take in a new one (the listener was full). */
  readonly onEvicted?: () => void;
  /** Accepting a connection failed (EMFILE, ENFILE...): the listener goes on. */
  readonly onAcceptError?: (error: Error) => void;
  /** A connection was accepted (lets the caller notice that accept errors are over). */
  readonly onAccepted?: () => void;
}

/** Descriptors kept free for what the server opens besides connections (files, Redis, fetches). */
export const fileReserve = 64;

/**
 * How many connections the process can still open: the soft open-file limit (`ulimit -n`, read
 * from /proc/self/limits) minus the descriptors open now and {@link fileReserve}; undefined
 * where it cannot be read (not Linux) or is unlimited.
 */
export function connectionFileBudget(): { budget: number; limit: number } | undefined {
  try {
    const soft = /^Max open files\s+(\d+)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (soft === undefined) return undefined;
    const limit = Number(soft);
    const open = readdirSync('/proc/self/fd').length;
    return { budget: Math.max(0, limit - open - fileReserve), limit };
  } catch {
    return undefined;
  }
}

interface Connection {
  readonly address: string;
  /** Last time a request started or ended on it (or it was accepted), epoch ms. */
  lastActivity: number;
  /** Requests that reached their handler and have not been answered yet. */
  busy: number;
  /**
   * Of those, answers the handler has written in full that have not yet left the process (the
   * peer is not reading): the request is no longer in its handler, only waiting on the peer.
   */
  unread: number;
  /** A request of this connection is in the handler (from dispatch until its response closes). */
  serving: boolean;
  /** Pipelined requests parsed behind it, in order, each waiting for its turn. */
  readonly waiting: (() => void)[];
}

export class ListenerConnections {
  readonly #limits: ConnectionLimits;
  readonly #open = new Map<Socket, Connection>();
  readonly #perAddress = new Map<string, number>();
  #server: Server | undefined;
  #closing = false;

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  /** Open connections (tests, metrics). */
  get size(): number {
    return this.#open.size;
  }

  /** Creates the listener's server (Fastify `serverFactory`): TLS when `https` is given. */
  createServer(handler: RequestListener, https: ServerOptions | undefined): Server {
    const timeouts = {
      requestTimeout: this.#limits.requestTimeoutMs,
      headersTimeout: this.#limits.requestTimeoutMs,
      keepAliveTimeout: this.#limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: checkIntervalMs,
      // Host is checked in the app (src/http/app.ts), which refuses in OAuth form; Node's own
      // refusal has no body and lets a request with two Host fields through.
      requireHostHeader: false,
    };
    const serve: RequestListener = (request, response) => this.#serve(request, response, handler);
    const server =
      https === undefined
        ? createHttpServer(timeouts, serve)
        : (createHttpsServer({ ...https, ...timeouts }, serve) as unknown as Server);
    // Not `server.maxConnections`: Node would refuse the newcomer; #accept evicts instead.
    // Node closes idle connections itself on close(); the grace rule below does it instead, so a
    // request racing the close on a fresh connection is answered, not reset.
    server.closeIdleConnections = () => {};
    const proxyProtocol = this.#limits.proxyProtocol;
    if (https !== undefined && proxyProtocol !== undefined) {
      // The TLS server's own listener reads the handshake: it must wait for the PROXY header.
      const startTls = server.listeners('connection') as ((socket: Socket) => void)[];
      server.removeAllListeners('connection');
      server.on('connection', (socket: Socket) => {
        const peer = socket.remoteAddress ?? 'unknown';
        if (!proxyProtocol(peer)) {
          for (const listener of startTls) listener.call(server, socket);
          this.#accept(socket);
          return;
        }
        socket.on('error', () => {});
        readProxyHeader(socket, proxyHeaderTimeoutMs).then(
          (client) => {
            // A header of the balancer's own (LOCAL, UNKNOWN): counted as the exempt balancer.
            this.#accept(socket, client ?? peer, client === undefined);
            if (socket.destroyed) return;
            for (const listener of startTls) listener.call(server, socket);
          },
          () => {},
        );
      });
    } else server.on('connection', (socket: Socket) => this.#accept(socket));
    // Without a listener, an accept error (EMFILE) is an uncaught 'error' event: the process
    // ends. Listen errors (EADDRINUSE) come before `listening` and are the listen call's.
    server.on('error', (error: Error) => {
      if (server.listening) this.#limits.onAcceptError?.(error);
    });
    // An `Expect` other than 100-continue: 417 in OAuth form (Node's own answer has no body).
    server.on('checkExpectation', answerExpectation);
    this.#server = server;
    return server;
  }

  /** `peer`: the address a PROXY header named, else the socket's; `exempt`: a balancer's own. */
  #accept(socket: Socket, peer = socket.remoteAddress ?? 'unknown', exempt = false): void {
    const address = addressKey(peer);
    const count = this.#perAddress.get(address) ?? 0;
    if (count >= this.#limits.perAddress && !exempt && this.#limits.exempt?.(peer) !== true) {
      this.#limits.onRefused?.();
      socket.destroy();
      return;
    }
    if (this.#open.size >= this.#limits.maxConnections && !this.#evictQuietest()) {
      this.#limits.onRefused?.();
      socket.destroy();
      return;
    }
    this.#limits.onAccepted?.();
    this.#perAddress.set(address, count + 1);
    this.#open.set(socket, {
      address,
      lastActivity: Date.now(),
      busy: 0,
      unread: 0,
      serving: false,
      waiting: [],
    });
    socket.once('close', () => this.#forget(socket));
  }

  /**
   * Closes the connection quiet for longest among those with no request in a handler (see the
   * header); false when every connection has one. Linear in the open connections, and run
   * only when the listener is full.
   */
  #evictQuietest(): boolean {
    let quietest: [Socket, Connection] | undefined;
    for (const entry of this.#open) {
      const connection = entry[1];
      // `busy`, not `serving`: a request whose headers came but whose body is still trickling
      // holds its connection as much as a silent one, and is no more entitled to the slot. Nor
      // is an answer written that the peer does not read (`unread`).
      if (connection.busy > connection.unread) continue;
      if (quietest === undefined || connection.lastActivity < quietest[1].lastActivity)
        quietest = entry;
    }
    if (quietest === undefined) return false;
    this.#forget(quietest[0]);
    quietest[0].destroy();
    this.#limits.onEvicted?.();
    return true;
  }

  /** Stops counting a connection (closed, or evicted before its close event). */
  #forget(socket: Socket): void {
    const connection = this.#open.get(socket);
    if (connection === undefined) return;
    this.#open.delete(socket);
    const left = (this.#perAddress.get(connection.address) ?? 1) - 1;
    if (left <= 0) this.#perAddress.delete(connection.address);
    else this.#perAddress.set(connection.address, left);
  }

  /**
   * Hands `request` to the handler once every request before it on its connection has been
   * answered (HTTP/1.1 answers in order anyway; this keeps the others out of the handlers).
   */
  #serve(request: IncomingMessage, response: ServerResponse, handler: RequestListener): void {
    const connection = this.#open.get(tcpOf(request.socket));
    if (connection === undefined) {
      handler(request, response);
      return;
    }
    const run = () => {
      connection.serving = true;
      response.once('close', () => {
        connection.serving = false;
        // A closed connection has nobody to answer: what waited on it is dropped, not run.
        if (request.socket.destroyed) connection.waiting.splice(0);
        else connection.waiting.shift()?.();
      });
      handler(request, response);
    };
    if (!connection.serving) {
      run();
      return;
    }
    if (connection.waiting.length >= maxPipelinedRequests) {
      request.socket.destroy();
      return;
    }
    connection.lastActivity = Date.now();
    connection.waiting.push(run);
  }

  /** Headers of a request arrived on `socket` (the request's own, TLS or plain). */
  requestStarted(socket: Socket): void {
    const connection = this.#open.get(tcpOf(socket));
    if (connection !== undefined) connection.lastActivity = Date.now();
  }

  /**
   * A request reached its handler: it will be answered even during shutdown. Once `response` is
   * written in full (`prefinish`), the peer has `requestTimeoutMs` to take it (`close`), or the
   * connection is closed (see the header: slow readers).
   */
  handlerStarted(socket: Socket, response: OutgoingMessage): void {
    const connection = this.#open.get(tcpOf(socket));
    if (connection === undefined) return;
    connection.busy++;
    connection.lastActivity = Date.now();
    let unreadTimer: NodeJS.Timeout | undefined;
    response.once('prefinish', () => {
      connection.unread++;
      connection.lastActivity = Date.now();
      unreadTimer = setTimeout(() => tcpOf(socket).destroy(), this.#limits.requestTimeoutMs);
      unreadTimer.unref();
    });
    response.once('close', () => {
      if (unreadTimer !== undefined) {
        clearTimeout(unreadTimer);
        connection.unread--;
      }
      connection.busy--;
      connection.lastActivity = Date.now();
    });
  }

  /**
   * Stops accepting and closes every connection once it carries no answered-to-be request;
   * resolves when none is left, or at `deadlineMs` (epoch), destroying what is left. Resolves to
   * the number of requests still running then (0 when every received request was answered).
   */
  async close(deadlineMs: number): Promise<number> {
    if (this.#closing) return 0;
    this.#closing = true;
    const server = this.#server;
    const stopped =
      server === undefined || !server.listening
        ? Promise.resolve()
        : new Promise<void>((resolve) => server.close(() => resolve()));
    // The time of the previous sweep: what was idle then, and has read nothing since (the loop
    // has polled for I/O between two sweeps), is idle; what arrived meanwhile has been read.
    let previous: number | undefined;
    for (;;) {
      const now = Date.now();
      if (previous !== undefined) {
        for (const [socket, connection] of this.#open) {
          if (connection.busy === 0 && previous - connection.lastActivity >= idleGraceMs)
            socket.destroy();
        }
      }
      previous = now;
      if (this.#open.size === 0) break;
      if (now >= deadlineMs) {
        let running = 0;
        for (const [socket, connection] of this.#open) {
          running += connection.busy;
          socket.destroy();
        }
        await stopped;
        return running;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(checkIntervalMs / 5, 100)));
    }
    await stopped;
    return 0;
  }
}

/** The TCP socket under a TLS socket (Node keeps it as `_parent`), or the socket itself. */
function tcpOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}
