/**
 * Metrics across workers (the worker's side of `serve --workers N`), over a real asynchronous
 * message channel: a worker answers the primary's collection request with its registry, and a
 * scrape returns what the primary aggregated, or this worker's own metrics when no aggregate
 * can come (no channel, or no answer in time).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWorkers } from '../../src/cli/serve.js';
import {
  clusterCollector,
  clusterMetrics,
  collectClusterMetrics,
  serveClusterMetrics,
} from '../../src/http/cluster-metrics.js';
import type { IpcChannel } from '../../src/replay/ipc.js';

function registryCounting(value: number): Registry {
  const registry = new Registry();
  new Counter({ name: 'demo_total', help: 'demo', registers: [registry] }).inc(value);
  return registry;
}

function channelOf(port: MessagePort, connected = true) {
  return {
    send: (message: unknown) => {
      port.postMessage(message);
      return true;
    },
    on: (event: 'message', listener: (message: unknown) => void) => port.on(event, listener),
    off: (event: 'message', listener: (message: unknown) => void) => port.off(event, listener),
    connected,
  };
}

function primaryChannel(port: MessagePort): IpcChannel {
  return {
    send: (message) => {
      port.postMessage(message);
      return true;
    },
    on: (event, listener) => port.on(event, listener),
    off: (event, listener) => port.off(event, listener),
    isOpen: () => true,
  };
}

const ports: MessagePort[] = [];
afterEach(() => {
  for (const port of ports.splice(0)) port.close();
});

describe('clusterMetrics', () => {
  it("answers a scrape with every worker's metrics, summed by the primary", async () => {
    // Two workers, each with its own channel to the primary and its own registry.
    const pairs = [new MessageChannel(), new MessageChannel()];
    for (const { port1, port2 } of pairs) ports.push(port1, port2);
    const [first, second] = pairs.map(({ port2 }, i) =>
      clusterMetrics(registryCounting(3 + i), channelOf(port2)),
    );
    const primarySide = pairs.map(({ port1 }) => primaryChannel(port1));
    const collect = clusterCollector(() => primarySide);
    const stops = primarySide.map((channel) => serveClusterMetrics(channel, collect));
    const text = await first?.text();
    expect(text).toMatch(/^demo_total 7$/m);
    expect(text).toMatch(/^tollgate_cluster_workers\{reporting="true"\} 2$/m);
    expect(await second?.text()).toMatch(/^demo_total 7$/m);
    for (const stop of stops) stop();
    first?.stop();
    second?.stop();
  });

  it('asks the primary once for scrapes that arrive while it is asking', async () => {
    const { port1: primary, port2: worker } = new MessageChannel();
    ports.push(primary, worker);
    let requests = 0;
    primary.on('message', (message: { type: string; id: number }) => {
      if (message.type !== 'tollgate:metrics-request') return;
      requests++;
      primary.postMessage({ type: 'tollgate:metrics-answer', id: message.id, text: 'all 1\n' });
    });
    const cluster = clusterMetrics(registryCounting(2), channelOf(worker));
    const texts = await Promise.all(Array.from({ length: 5 }, () => cluster.text()));
    expect(texts).toEqual(Array(5).fill('all 1\n'));
    expect(requests).toBe(1);
    // Once answered, the next scrape asks again: nothing is cached past its collection.
    expect(await cluster.text()).toBe('all 1\n');
    expect(requests).toBe(2);
    cluster.stop();
  });

  it('collects once from each worker for requests that arrive while it is collecting', async () => {
    const pairs = [new MessageChannel(), new MessageChannel()];
    for (const { port1, port2 } of pairs) ports.push(port1, port2);
    const collects = [0, 0];
    const workers = pairs.map(({ port2 }, i) => {
      port2.on('message', (message: { type: string }) => {
        if (message.type === 'tollgate:metrics-collect') collects[i] = (collects[i] ?? 0) + 1;
      });
      return clusterMetrics(registryCounting(3 + i), channelOf(port2));
    });
    const collect = clusterCollector(() => pairs.map(({ port1 }) => primaryChannel(port1)));
    const texts = await Promise.all(Array.from({ length: 5 }, () => collect()));
    for (const text of texts) expect(text).toMatch(/^demo_total 7$/m);
    expect(collects).toEqual([1, 1]);
    await collect();
    expect(collects).toEqual([2, 2]);
    for (const one of workers) one.stop();
  });

  it('leaves out a worker that does not answer in time, and says so', async () => {
    const answering = new MessageChannel();
    const silent = new MessageChannel();
    ports.push(answering.port1, answering.port2, silent.port1, silent.port2);
    const worker = clusterMetrics(registryCounting(4), channelOf(answering.port2));
    silent.port2.on('message', () => {}); // a worker that never answers
    const text = await collectClusterMetrics([
      primaryChannel(answering.port1),
      primaryChannel(silent.port1),
    ]);
    expect(text).toMatch(/^demo_total 4$/m);
    expect(text).toMatch(/^tollgate_cluster_workers\{reporting="false"\} 1$/m);
    worker.stop();
  }, 10_000);

  it('answers with this worker alone when there is no primary to ask', async () => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    const cluster = clusterMetrics(registryCounting(5), channelOf(port2, false));
    expect(await cluster.text()).toMatch(/^demo_total 5$/m);
    cluster.stop();
  });

  it('answers with this worker alone when the primary sends nothing usable in time', async () => {
    const { port1: primary, port2: worker } = new MessageChannel();
    ports.push(primary, worker);
    primary.on('message', (message: { type: string; id: number }) => {
      if (message.type === 'tollgate:metrics-request')
        primary.postMessage({ type: 'tollgate:metrics-answer', id: message.id, text: null });
    });
    const cluster = clusterMetrics(registryCounting(2), channelOf(worker));
    expect(await cluster.text()).toMatch(/^demo_total 2$/m);
    cluster.stop();
  });
});

describe('serve --workers', () => {
  it('takes a count from 1 to 256 or auto, and nothing else', () => {
    expect(parseWorkers(undefined)).toBe(1);
    expect(parseWorkers('3')).toBe(3);
    expect(parseWorkers('256')).toBe(256);
    expect(parseWorkers('auto')).toBeGreaterThanOrEqual(1);
    for (const bad of ['0', '257', '-1', '1.5', 'two', '', '01'])
      expect(parseWorkers(bad), bad).toBeUndefined();
  });
});
