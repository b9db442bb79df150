/** Request loggers made only when used: none for a token request, the same lines when used. */
import { join } from 'node:path';
import Fastify, { LogController } from 'fastify';
import { type DestinationStream, pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lazyChildLoggers } from '../../src/http/request-logger.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

let loggers = 0;

/**
 * A pino logger that keeps its lines and counts the children created from it; its lines also go
 * to the suite's log folder, which is searched for secrets after the run (test/global-setup.ts).
 */
function countingLogger() {
  const lines: Record<string, unknown>[] = [];
  const counts = { children: 0 };
  const streams: { stream: DestinationStream }[] = [
    {
      stream: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    },
  ];
  const dir = inject('tollgateLogDir');
  if (dir !== undefined) {
    loggers++;
    streams.push({
      stream: pino.destination({
        dest: join(dir, `${process.pid}-request-logger-${loggers}.log`),
        sync: true,
      }),
    });
  }
  const logger = pino(
    {
      level: 'info',
      onChild: () => {
        counts.children++;
      },
    },
    pino.multistream(streams),
  );
  return { logger, lines, counts };
}

describe('request loggers', () => {
  const logged = countingLogger();
  let tg: TestTollgate;
  let client: JwtClient;

  beforeAll(async () => {
    client = await makeJwtClient('svc-request-logger');
    tg = await makeTollgate({ clients: [client.metadata], tollgate: { logger: logged.logger } });
    await tg.app.ready();
  });
  afterAll(async () => {
    await tg?.dispose();
  });

  it('creates no child logger for a token request, and still writes its audit line', async () => {
    const before = logged.counts.children;
    for (let i = 0; i < 3; i++) {
      const response = await tg.app.inject({
        method: 'POST',
        url: '/token',
        headers: formHeaders,
        payload: form({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await signAssertion(client.key.privateJwk, client.clientId, testIssuer),
        }),
      });
      expect(response.statusCode).toBe(200);
    }
    // Fastify's own child for the first request's route context may come once; never per request.
    expect(logged.counts.children - before).toBeLessThanOrEqual(1);
    const audits = logged.lines.filter((line) => line.audit === 'token');
    expect(audits).toHaveLength(3);
    expect(audits.every((line) => line.outcome === 'issued')).toBe(true);
  });

  it('writes what is logged through request.log with the request id, as a pino child would', async () => {
    const direct = countingLogger();
    const lazy = countingLogger();
    const apps = [direct.logger, lazyChildLoggers(lazy.logger)].map((logger) => {
      const app = Fastify({
        loggerInstance: logger,
        logController: new LogController({ disableRequestLogging: true }),
      });
      app.get('/quiet', async () => ({ ok: true }));
      app.get('/loud', async (request) => {
        request.log.warn({ detail: 7 }, 'something to say');
        request.log.child({ step: 'inner' }).info('inner line');
        return { level: request.log.level };
      });
      return app;
    });
    const lineSets: Record<string, unknown>[][] = [];
    for (const [index, app] of apps.entries()) {
      const { lines, counts } = index === 0 ? direct : lazy;
      await app.ready();
      const startup = counts.children;
      for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: '/quiet' });
      // The direct logger makes a child per request; the lazy one makes Fastify's own (once, at
      // the first request) and then only for requests that log.
      expect(counts.children - startup).toBe(index === 0 ? 3 : 1);
      const beforeLoud = counts.children;
      const loud = await app.inject({ method: 'GET', url: '/loud' });
      expect(loud.json()).toEqual({ level: 'info' });
      expect(counts.children - beforeLoud).toBe(2);
      lineSets.push(lines.map(({ time: _time, pid: _pid, hostname: _hostname, ...rest }) => rest));
      await app.close();
    }
    expect(lineSets[1]).toEqual(lineSets[0]);
    expect(lineSets[1]).toEqual([
      expect.objectContaining({ level: 40, reqId: 'req-4', detail: 7, msg: 'something to say' }),
      expect.objectContaining({ level: 30, reqId: 'req-4', step: 'inner', msg: 'inner line' }),
    ]);
  });
});
