/**
 * docs/ops/prometheus-alerts.yml: valid rules (`promtool check rules`), and each alert fires on
 * the series that should trigger it and stays quiet otherwise (`promtool test rules`).
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { promtool, promtoolAvailable } from '../helpers/promtool.js';

const ops = join(import.meta.dirname, '../../docs/ops');

describe.runIf(promtoolAvailable())('Prometheus alerting rules', () => {
  it('pass promtool check rules', () => {
    const { status, output } = promtool(['check', 'rules', 'prometheus-alerts.yml'], ops);
    expect(status, output).toBe(0);
    expect(output).toMatch(/SUCCESS: 4 rules found/);
  });

  it('pass their unit tests (promtool test rules), one per alert', async () => {
    const { status, output } = promtool(['test', 'rules', 'prometheus-alerts.test.yml'], ops);
    expect(status, output).toBe(0);
    const rules = await readFile(join(ops, 'prometheus-alerts.yml'), 'utf8');
    const tests = await readFile(join(ops, 'prometheus-alerts.test.yml'), 'utf8');
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] as string);
    expect(alerts).toEqual([
      'TollgateClientCertificateExpiringSoon',
      'TollgateReplayStoreErrors',
      'TollgateFailedAuthenticationSpike',
      'TollgateShedLoad',
    ]);
    for (const alert of alerts) expect(tests, alert).toContain(`alertname: ${alert}`);
  });

  it('the unit tests can fail: a rule that never fires is caught', async () => {
    // The same tests against rules whose thresholds cannot be reached must fail, or they
    // would prove nothing.
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-promtool-'));
    try {
      const rules = await readFile(join(ops, 'prometheus-alerts.yml'), 'utf8');
      await writeFile(
        join(dir, 'prometheus-alerts.yml'),
        rules.replace('< 14 * 86400', '< 1 * 86400'),
      );
      await copyFile(
        join(ops, 'prometheus-alerts.test.yml'),
        join(dir, 'prometheus-alerts.test.yml'),
      );
      const { status, output } = promtool(['test', 'rules', 'prometheus-alerts.test.yml'], dir);
      expect(status).not.toBe(0);
      expect(output).toMatch(/TollgateClientCertificateExpiringSoon/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
