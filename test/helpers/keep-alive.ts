/**
 * One TLS connection that sends HTTP/1.1 requests one after another (keep-alive) and reads each
 * answer, for tests about what a server does on a connection that stays open.
 */
import { connect, type TLSSocket } from 'node:tls';
import type { DevCa, IssuedClientCertificate } from '../../src/dev-ca/index.js';

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One TLS connection that sends HTTP/1.1 requests one after another and reads each answer. */
export class KeepAliveConnection {
  readonly socket: TLSSocket;
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #closed = false;
  readonly #tickets: { last: Buffer | undefined };

  private constructor(socket: TLSSocket, tickets: { last: Buffer | undefined }) {
    this.socket = socket;
    this.#tickets = tickets;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiting?.();
    });
  }

  /** The last session ticket the server sent, to resume this session on a new connection. */
  get sessionTicket(): Buffer | undefined {
    return this.#tickets.last;
  }

  /** Whether the handshake resumed an earlier session (TLS 1.3 PSK) instead of a full one. */
  get resumed(): boolean {
    return this.socket.isSessionReused();
  }

  /** Connects presenting `client`'s certificate, resuming `session` when given. */
  static open(base: string, ca: DevCa, client: IssuedClientCertificate, session?: Buffer) {
    const url = new URL(base);
    return new Promise<KeepAliveConnection>((resolve, reject) => {
      const socket = connect(
        {
          host: url.hostname,
          port: Number(url.port),
          servername: 'localhost',
          ca: ca.root.certPem,
          cert: client.chainPem,
          key: client.keyPem,
          ...(session === undefined ? {} : { session }),
        },
        () => resolve(new KeepAliveConnection(socket, tickets)),
      );
      // TLS 1.3 tickets may arrive as soon as the handshake ends: listen from the start. The
      // last one resumes this session on a later connection.
      const tickets: { last: Buffer | undefined } = { last: undefined };
      socket.on('session', (ticket: Buffer) => {
        tickets.last = ticket;
      });
      socket.once('error', reject);
    });
  }

  /** Posts a client_credentials token request on this connection (tls_client_auth). */
  token(clientId: string): Promise<Answer> {
    return this.post('/token', `grant_type=client_credentials&client_id=${clientId}`);
  }

  /** Posts a form to `path` on this connection and reads the whole answer. */
  async post(path: string, body: string): Promise<Answer> {
    if (this.#closed) throw new Error('the server closed the connection');
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    for (;;) {
      const answer = this.#take();
      if (answer !== undefined) return answer;
      if (this.#closed) throw new Error('the server closed the connection');
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
      this.#waiting = undefined;
    }
  }

  /** One complete answer (Fastify sends `content-length`), or undefined while incomplete. */
  #take(): Answer | undefined {
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (!Number.isSafeInteger(length)) throw new Error(`no content-length in ${head}`);
    if (this.#buffer.length < end + 4 + length) return undefined;
    const text = this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    return {
      status: Number(head.split(' ')[1]),
      body: JSON.parse(text) as Record<string, unknown>,
    };
  }

  close(): void {
    this.socket.destroy();
  }
}
