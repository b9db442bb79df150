/**
 * Runs `openssl verify -x509_strict -purpose sslclient` (plus `-crl_check_all` for CRL cases)
 * over many cases per process: every case's anchors go into one CAfile, every certificate sent
 * into one untrusted bundle, every leaf into its own file; OpenSSL prints `<file>: OK` for each
 * leaf it accepts. Case ids in every DN keep the cases apart (see cases.ts); isolated cases get a
 * process of their own.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiffCase } from './cases.js';

/** The verdict of OpenSSL per case id: true when it accepts the chain. */
export async function opensslVerdicts(
  cases: readonly DiffCase[],
  dir: string,
  nowSeconds: number,
  chunkSize = 400,
): Promise<Map<string, boolean>> {
  const verdicts = new Map<string, boolean>();
  const groups: DiffCase[][] = [];
  for (const crlMode of [false, true]) {
    const shared = cases.filter((one) => (one.crls !== undefined) === crlMode && !one.isolated);
    for (let index = 0; index < shared.length; index += chunkSize) {
      groups.push(shared.slice(index, index + chunkSize));
    }
    for (const one of cases) {
      if ((one.crls !== undefined) === crlMode && one.isolated) groups.push([one]);
    }
  }
  // Two processes at a time: the machine is shared.
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const index = next++;
      const group = groups[index] as DiffCase[];
      let accepted: Set<string>;
      try {
        accepted = await runGroup(group, join(dir, `g${index}`), nowSeconds);
      } catch {
        // A bundle OpenSSL cannot load at all: fall back to one process per case, where such a
        // case is simply refused.
        accepted = new Set();
        for (const [offset, one] of group.entries()) {
          const alone = await runGroup([one], join(dir, `g${index}-${offset}`), nowSeconds).catch(
            () => new Set<string>(),
          );
          if (alone.has(one.id)) accepted.add(one.id);
        }
      }
      for (const one of group) verdicts.set(one.id, accepted.has(one.id));
    }
  };
  await Promise.all([worker(), worker()]);
  return verdicts;
}

async function runGroup(group: DiffCase[], dir: string, nowSeconds: number): Promise<Set<string>> {
  await mkdir(dir, { recursive: true });
  const crlMode = group[0]?.crls !== undefined;
  const anchors = join(dir, 'anchors.pem');
  const untrusted = join(dir, 'untrusted.pem');
  const crls = join(dir, 'crls.pem');
  await writeFile(anchors, group.flatMap((one) => one.anchors.map((cert) => cert.pem)).join(''));
  const sent = group.flatMap((one) => one.sent.map((cert) => cert.pem));
  await writeFile(untrusted, sent.join(''));
  if (crlMode)
    await writeFile(crls, group.flatMap((one) => (one.crls ?? []).map((crl) => crl.pem)).join(''));
  const leafFiles = new Map<string, string>();
  for (const one of group) {
    const file = join(dir, `leaf-${one.id}.pem`);
    leafFiles.set(file, one.id);
    await writeFile(file, one.leaf.pem);
  }
  const args = [
    'verify',
    '-x509_strict',
    '-purpose',
    'sslclient',
    '-attime',
    String(nowSeconds),
    '-CAfile',
    anchors,
    ...(sent.length > 0 ? ['-untrusted', untrusted] : []),
    ...(crlMode ? ['-crl_check_all', '-CRLfile', crls] : []),
    ...leafFiles.keys(),
  ];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('openssl', args, { maxBuffer: 64 * 1024 * 1024 }, (error, out) => {
      // Exit status 2 means "some failed"; anything else unexpected is an error.
      if (error !== null && (error as { code?: unknown }).code !== 2) reject(error);
      else resolve(out);
    });
  });
  const accepted = new Set<string>();
  for (const line of stdout.split('\n')) {
    const match = /^(.*): OK$/.exec(line);
    const id = match === null ? undefined : leafFiles.get(match[1] as string);
    if (id !== undefined) accepted.add(id);
  }
  return accepted;
}
