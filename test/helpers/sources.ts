/**
 * Requests from many loopback sources (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to
 * lo), over real sockets, for the availability attacks of issue 12. One keep-alive agent per
 * source address, so a flood of a thousand requests costs a handful of TLS handshakes.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

export interface Sources {
  /** POSTs a form from `source` (a 127.x.y.z address) to `url`. */
  post(
    source: string,
    url: string,
    form: Record<string, string>,
    options?: { headers?: Record<string, string>; identity?: { cert: string; key: string } },
  ): Promise<Answer>;
  /** GETs `url` from `source`. */
  get(source: string, url: string): Promise<Answer>;
  /** Closes every agent. */
  close(): void;
}

/** The i-th extra loopback source: 127.0.1.1, 127.0.1.2, ... (i from 0). */
export function loopbackSource(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

export function sources(ca: string): Sources {
  const agents = new Map<string, HttpAgent>();
  const agentFor = (source: string, https: boolean, identity?: { cert: string; key: string }) => {
    const key = `${source}|${https}|${identity?.cert ?? ''}`;
    let agent = agents.get(key);
    if (agent === undefined) {
      agent = https
        ? new HttpsAgent({
            keepAlive: true,
            maxSockets: 8,
            localAddress: source,
            ca,
            ...(identity === undefined ? {} : identity),
          })
        : new HttpAgent({ keepAlive: true, maxSockets: 8, localAddress: source });
      agents.set(key, agent);
    }
    return agent;
  };
  const send = (
    method: 'GET' | 'POST',
    source: string,
    url: string,
    body: string | undefined,
    headers: Record<string, string>,
    identity?: { cert: string; key: string },
  ) =>
    new Promise<Answer>((resolve, reject) => {
      const https = url.startsWith('https:');
      const request = (https ? httpsRequest : httpRequest)(
        url,
        {
          method,
          agent: agentFor(source, https, identity),
          headers: {
            ...(body === undefined
              ? {}
              : {
                  'content-type': 'application/x-www-form-urlencoded',
                  'content-length': String(Buffer.byteLength(body)),
                }),
            ...headers,
          },
          timeout: 15_000,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
            } catch {
              parsed = { text };
            }
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
      request.on('error', reject);
      request.end(body);
    });
  return {
    post: (source, url, form, options = {}) =>
      send(
        'POST',
        source,
        url,
        new URLSearchParams(form).toString(),
        options.headers ?? {},
        options.identity,
      ),
    get: (source, url) => send('GET', source, url, undefined, {}),
    close: () => {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}

/** Runs `count` tasks, `parallel` at a time. */
export async function inBatches<T>(
  count: number,
  parallel: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, j) =>
      task(start + j),
    );
    results.push(...(await Promise.all(batch)));
  }
  return results;
}
