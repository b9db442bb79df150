/**
 * The server's pino logger, as `log.level` and `log.format` say: `pino` keeps pino's own line
 * (numeric level, epoch-ms time), `iso` writes `"level":"info"` and an ISO 8601 `time`, which
 * log stacks (Loki, Elasticsearch, CloudWatch) parse without a mapping.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { Config } from '../config/index.js';

export function createServerLogger(
  log: Config['log'],
  destination: DestinationStream,
  base: Readonly<Record<string, unknown>> = {},
): Logger {
  return pino(
    {
      level: log.level,
      base: { service: 'tollgate', ...base },
      ...(log.format === 'iso'
        ? {
            formatters: { level: (label: string) => ({ level: label }) },
            timestamp: pino.stdTimeFunctions.isoTime,
          }
        : {}),
    },
    destination,
  );
}
