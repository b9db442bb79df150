/**
 * Every dev-ca command as one table: the flags it takes beyond the global ones, and what it does
 * with them. Each loads what it needs from the {@link Workspace}, plans its files and commits them
 * (which refuses to overwrite without `--force` and refreshes EXAMPLES.md and manifest.json).
 * The CLI (cli.ts) only parses, looks a command up here, and prints the result.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { UsageError } from '../cli/args.js';
import { createClientAssertion } from '../client/assertion.js';
import { jwkThumbprint } from '../dpop/index.js';
import { encodePem } from '../pki/index.js';
import type { DevCa } from './ca.js';
import {
  type ClientSpec,
  isMtlsBinding,
  mtlsBindings,
  planClient,
  readClientSpecs,
  upsertClient,
} from './clients.js';
import { doctor } from './doctor.js';
import { ensure, initDevPki } from './ensure.js';
import { defaultIssuer } from './examples.js';
import { type DevKeyType, devKeyTypes, generateSigningJwk, signingJwkAlgs } from './keys.js';
import {
  assertSafeClientId,
  clientPath,
  clientsFolder,
  foreignCaFolder,
  layout,
  negativeFolder,
  readManifestIssuer,
} from './layout.js';
import { createNegativeFixtures } from './negative.js';
import { spiffeBundle } from './spiffe.js';
import { defined, json, Plan, refuseConflicts, writeFiles } from './store.js';
import {
  type CommandResult,
  type Printed,
  planCrlFiles,
  planServerFiles,
  readCert,
  serverSans,
  type Workspace,
} from './workspace.js';
import { type RevocationReason, revocationReasons } from './x509.js';

/** Every option of every command (`-h`/`--help` the parser adds), for src/cli's parser. */
export const options = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  now: { type: 'string' },
  'key-type': { type: 'string' },
  permit: { type: 'string', multiple: true },
  san: { type: 'string', multiple: true },
  'keep-root-key': { type: 'boolean' },
  p12: { type: 'boolean' },
  'p12-legacy': { type: 'boolean' },
  issuer: { type: 'string' },
  subject: { type: 'string' },
  'san-dns': { type: 'string', multiple: true },
  'san-uri': { type: 'string', multiple: true },
  'san-ip': { type: 'string', multiple: true },
  'san-email': { type: 'string', multiple: true },
  bind: { type: 'string' },
  file: { type: 'string' },
  scope: { type: 'string' },
  alg: { type: 'string' },
  reason: { type: 'string' },
  days: { type: 'string' },
  lifetime: { type: 'string' },
  csr: { type: 'string' },
  'client-id': { type: 'string' },
  'spiffe-id': { type: 'string' },
  eku: { type: 'string' },
} as const;

/** The options every command takes. */
export const globalFlags = ['dir', 'json', 'force', 'now'];

/** Parsed option values, typed by {@link options}. */
export type Values = ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];

/** What a command gets: the workspace, its argument ('' when it takes none) and option values. */
export interface CommandLine {
  readonly ws: Workspace;
  readonly arg: string;
  readonly values: Values;
}

export interface Command {
  /** The flags it takes beyond {@link globalFlags}, space-separated. */
  readonly flags: string;
  /** Its one positional argument, as the usage error names it; none when absent. */
  readonly argument?: string;
  run(line: CommandLine): Promise<CommandResult | Printed>;
}

const certificateFlags = 'subject san-dns san-uri san-ip san-email bind scope days spiffe-id';
// Tollgate watches the CRL files (reload.pollIntervalSeconds) and reloads on SIGHUP: no restart.
const crlReloadNote =
  'a running Tollgate picks up the new CRLs by itself within reload.pollIntervalSeconds (default 5 s), or at once on SIGHUP';

/** The dev-ca commands by name. */
export const commands: Readonly<Record<string, Command>> = {
  init: {
    flags: 'key-type permit san keep-root-key p12 issuer',
    async run({ ws, values }) {
      return initDevPki(ws, pkiOptions(values));
    },
  },
  ensure: {
    flags: 'key-type permit san keep-root-key p12 issuer',
    async run({ ws, values }) {
      return ensure(ws, pkiOptions(values));
    },
  },
  server: {
    flags: 'key-type san',
    async run({ ws, values }) {
      const ca = await ws.loadCa();
      const sans = serverSans(values.san);
      const plan = await planServerFiles(ca, sans, keyType(values));
      return ws.apply('server', plan, `issued a server certificate for ${sans.join(', ')}`, [
        'npm start (restart it if it is running)',
      ]);
    },
  },
  client: {
    flags: `key-type ${certificateFlags} file p12 p12-legacy`,
    argument: 'client_id (or --file)',
    async run({ ws, arg, values }) {
      if (values.file !== undefined) {
        if (values['p12-legacy'] === true)
          throw new UsageError('with --file, set "p12": "legacy" per client in the file');
        return addClients(ws, await readClientSpecs(values.file, process.cwd()));
      }
      const spec: ClientSpec = {
        ...certificateOptions(values),
        clientId: arg,
        // --p12-legacy replaces the modern bundle (one client.p12 either way).
        ...defined({ p12: values['p12-legacy'] === true ? 'legacy' : values.p12 }),
        ...defined({ keyType: keyType(values) }),
      };
      return addClients(ws, [spec]);
    },
  },
  sign: {
    flags: `csr client-id ${certificateFlags} eku`,
    async run({ ws, values }) {
      const { csr: file, 'client-id': clientId } = values;
      if (file === undefined || clientId === undefined)
        throw new UsageError('needs --csr FILE and --client-id ID');
      const csr = await readFile(file).catch(() => {
        throw new TypeError(`cannot read ${file}`);
      });
      const spec: ClientSpec = {
        ...certificateOptions(values),
        clientId,
        // DER is armoured here so the request is stored (request.csr) in one form.
        csrPem: csr.includes('-----BEGIN')
          ? csr.toString('latin1')
          : encodePem('CERTIFICATE REQUEST', csr),
        ...defined({ eku: values.eku?.split(',') }),
      };
      return addClients(ws, [spec], 'sign');
    },
  },
  'spiffe-bundle': {
    flags: '',
    async run({ ws }) {
      const bundle = json(await spiffeBundle((await ws.loadCa()).root.certPem));
      const role = 'SPIFFE bundle (JWKS, use x509-svid)';
      return ws.apply(
        'spiffe-bundle',
        new Plan().add(layout.spiffeBundle, bundle, role, { kind: 'update' }),
        'wrote the SPIFFE bundle of the dev root (one x509-svid key with x5c)',
        ['issue X.509-SVIDs with: npm run dev-ca -- client ID --spiffe-id spiffe://TD/PATH'],
      );
    },
  },
  'self-signed': {
    flags: 'key-type subject scope days',
    argument: 'client_id',
    run: ({ ws, arg, values }) =>
      addClients(ws, [
        {
          clientId: arg,
          method: 'self_signed_tls_client_auth',
          ...defined({
            subject: values.subject,
            keyType: keyType(values),
            scope: values.scope,
            validityDays: positive(values.days, '--days'),
          }),
        },
      ]),
  },
  jwk: {
    flags: 'alg scope',
    argument: 'client_id',
    run({ ws, arg: clientId, values }) {
      const alg = pick(values.alg ?? 'ES256', signingJwkAlgs, '--alg');
      const scope = defined({ scope: values.scope });
      return addClients(ws, [{ clientId, method: 'private_key_jwt', alg, ...scope }]);
    },
  },
  'dpop-key': {
    flags: 'alg',
    argument: 'client_id',
    /**
     * A DPoP (RFC 9449) key pair for a client, written as a private JWK (0600) under
     * `clients/<ID>/dpop.jwk.json`, for `tollgate token --dpop-key` and the client SDK. It is not
     * registered anywhere (the proof carries it; the registry only says whether the client must
     * use one, `dpop_bound_access_tokens`), and it is never the client's assertion key: a token
     * bound to the key that also authenticates the client would bind nothing new.
     *
     * @see RFC 9449 §4.1, §5.2
     */
    async run({ ws, arg: clientId, values }) {
      // What Tollgate's fapi2 profile also accepts.
      const alg = pick(values.alg ?? 'ES256', ['ES256', 'EdDSA', 'PS256'] as const, '--alg');
      assertSafeClientId(clientId);
      const generated = await generateSigningJwk(alg);
      // No kid or use: the proof's jwk header carries the public members only.
      const { kid: _kid, use: _use, ...privateJwk } = generated.privateJwk;
      const jkt = jwkThumbprint(generated.publicJwk as Record<string, unknown>) as string;
      const path = join(clientsFolder, clientId, 'dpop.jwk.json');
      const plan = new Plan().add(path, json(privateJwk), 'DPoP private JWK (0600)', {
        secret: true,
      });
      // Not a file of the PKI: EXAMPLES.md and manifest.json do not change.
      if (!ws.force) await refuseConflicts(ws.dir, plan.files);
      const written = await writeFiles(ws.dir, plan.files);
      const summary = `DPoP key for ${clientId} (${alg}); tokens bound to it carry cnf.jkt ${jkt}`;
      return {
        ...ws.report('dpop-key', summary, plan.made, written, []),
        next: [
          `tollgate token --client-id ${clientId} ... --dpop-key ${join(ws.dir, path)} --decode`,
        ],
      };
    },
  },
  revoke: {
    flags: 'reason',
    argument: 'target (client_id, server, serial or .pem)',
    async run({ ws, arg, values }) {
      const reasons = Object.keys(revocationReasons) as RevocationReason[];
      const reason = pick(values.reason ?? 'unspecified', reasons, '--reason');
      const ca = await ws.loadCa();
      const target = await revocationTarget(ws, ca, arg);
      const entry = ca.revoke(target.value, reason);
      const crl = entry.serialHex === ca.intermediate.serialHex ? 'root' : 'intermediate';
      return ws.apply(
        'revoke',
        await planCrlFiles(ca, { kind: 'update' }),
        `revoked ${target.label} (serial ${entry.serialHex}, reason ${entry.reason}) on the ${crl} CRL`,
        [
          `openssl crl -in ${join(ws.displayDir, layout.intermediateCrl)} -noout -text`,
          crlReloadNote,
        ],
      );
    },
  },
  crl: {
    flags: 'days',
    async run({ ws, values }) {
      const nextUpdateDays = positive(values.days, '--days');
      const ca = await ws.loadCa();
      const plan = await planCrlFiles(ca, { kind: 'update', nextUpdateDays });
      const warnings =
        ca.root.keyPem === undefined
          ? [
              'no root key (ca/root-key.pem): the root CRL was kept as signed at init, valid until the root expires',
            ]
          : [];
      return ws.apply('crl', plan, 'refreshed the CRLs', [crlReloadNote], warnings);
    },
  },
  negative: {
    flags: '',
    async run({ ws }) {
      const ca = await ws.loadCa();
      const set = await createNegativeFixtures(ca);
      let registry = await ws.registry();
      const plan = new Plan();
      for (const fixture of Object.values(set.fixtures)) {
        const path = (file: Parameters<typeof clientPath>[1]): string =>
          clientPath(fixture.clientId, file, negativeFolder);
        const role = `negative fixture ${fixture.kind}: ${fixture.reason}`;
        plan
          .add(path('cert'), fixture.cert.certPem, role, { about: fixture.cert })
          .add(path('key'), fixture.cert.keyPem, '', { secret: true })
          .add(path('chain'), fixture.presentedChainPem, '');
        registry = upsertClient(registry, fixture.registration);
      }
      const foreign = set.foreignCa;
      const foreignRole = 'foreign CA with our subject DNs (for foreign-ca)';
      plan
        .add(join(foreignCaFolder, 'root.pem'), foreign.root.certPem, foreignRole)
        .add(join(foreignCaFolder, 'intermediate.pem'), foreign.intermediate.certPem, '')
        .add(join(foreignCaFolder, 'chain.pem'), foreign.chainPem, '')
        .merge(await planCrlFiles(ca, { kind: 'update' }));
      plan.add(layout.registry, json(registry), '', { kind: 'update' });
      const count = Object.keys(set.fixtures).length;
      return ws.apply(
        'negative',
        plan,
        `created ${count} negative fixtures in ${join(ws.displayDir, negativeFolder)} and registered them`,
        [`see "Negative fixtures" in ${join(ws.displayDir, layout.examples)}`],
      );
    },
  },
  doctor: {
    flags: '',
    run({ ws }) {
      return doctor(ws);
    },
  },
  assertion: {
    flags: 'issuer lifetime',
    argument: 'client_id',
    async run({ ws, arg: clientId, values }) {
      const lifetime = positive(values.lifetime, '--lifetime');
      assertSafeClientId(clientId);
      const path = clientPath(clientId, 'privateJwk');
      const text = await ws.text(path);
      if (text === undefined) {
        throw new TypeError(
          `no ${path} in ${ws.displayDir}; make one with \`npm run dev-ca -- jwk ${clientId}\``,
        );
      }
      const issuer = ws.issuer ?? (await readManifestIssuer(ws.dir)) ?? defaultIssuer;
      const assertion = await createClientAssertion({
        clientId,
        audience: issuer,
        key: JSON.parse(text) as JWK,
        nowSeconds: Math.floor(ws.now().getTime() / 1000),
        ...defined({ lifetimeSeconds: lifetime === undefined ? undefined : Math.floor(lifetime) }),
      });
      const data = { assertion, client_id: clientId, aud: issuer };
      return { text: `${assertion}\n`, json: `${JSON.stringify(data)}\n`, code: 0 };
    },
  },
};

/** Creates clients (`client`, `sign`, `self-signed`, `jwk`) and registers them. */
async function addClients(
  ws: Workspace,
  specs: readonly ClientSpec[],
  command: 'client' | 'sign' = 'client',
): Promise<CommandResult> {
  if (specs.length === 0) throw new TypeError('no clients given');
  // self-signed and private_key_jwt clients do not need the CA.
  const needsCa = specs.some((spec) => spec.method === 'tls_client_auth');
  const ca = needsCa ? await ws.loadCa() : await ws.loadCa().catch(() => undefined);
  let registry = await ws.registry();
  const plan = new Plan();
  const taken: string[] = [];
  for (const spec of specs) {
    if (registry.clients.some((c) => c.client_id === spec.clientId))
      taken.push(`${layout.registry} (client_id ${spec.clientId} already registered)`);
    const client = await planClient(ca, spec, ws.now);
    plan.merge(client);
    registry = upsertClient(registry, client.entry);
  }
  const ids = specs.map((s) => s.clientId).join(', ');
  const registered = specs.map((s) => `${s.clientId} (${s.method})`).join(', ');
  plan.add(layout.registry, json(registry), `registered ${registered}`, { kind: 'update' });
  return ws.apply(
    command,
    plan,
    command === 'sign'
      ? `signed the CSR of ${ids} (the key stays with the client)`
      : `created ${specs.length} client(s): ${ids}`,
    [
      'restart npm start (or let registry hot-reload pick it up)',
      `see ${join(ws.displayDir, layout.examples)}`,
    ],
    [],
    taken,
  );
}

/** The tls_client_auth options `client` and `sign` share: names, binding, scope, validity. */
function certificateOptions(values: Values): Omit<ClientSpec, 'clientId'> {
  // The registry field names (tls_client_auth_san_dns) are accepted as well as the short ones.
  const bind = values.bind?.replace(/^tls_client_auth_/, '');
  if (bind !== undefined && !isMtlsBinding(bind))
    throw new UsageError(
      `--bind is one of ${mtlsBindings.map((b) => `${b} (tls_client_auth_${b})`).join(', ')}`,
    );
  return {
    method: 'tls_client_auth',
    ...defined({
      subject: values.subject,
      sanDns: values['san-dns'],
      sanUri: values['san-uri'],
      sanIp: values['san-ip'],
      sanEmail: values['san-email'],
      spiffeId: values['spiffe-id'],
      bind,
      scope: values.scope,
      validityDays: positive(values.days, '--days'),
    }),
  };
}

/** `init` and `ensure`: what to make a new PKI with. */
function pkiOptions(values: Values) {
  return defined({
    keyType: keyType(values),
    permit: values.permit,
    serverSans: values.san,
    keepRootKey: values['keep-root-key'],
    p12: values.p12,
  });
}

/** Resolves a `revoke` target: a client_id, `server`, `intermediate`, a .pem path or a serial. */
async function revocationTarget(
  ws: Workspace,
  ca: DevCa,
  target: string,
): Promise<{ value: string; label: string }> {
  if (target === 'server') {
    const cert = await ws.cert(layout.serverCert);
    if (cert === undefined) throw new TypeError(`no ${layout.serverCert}`);
    return { value: cert.serialHex, label: 'the server certificate' };
  }
  if (target === 'intermediate')
    return { value: ca.intermediate.serialHex, label: 'the intermediate CA' };
  for (const folder of [clientsFolder, negativeFolder]) {
    const cert = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(target)
      ? await ws.cert(join(folder, target, 'cert.pem'))
      : undefined;
    if (cert !== undefined)
      return { value: cert.serialHex, label: `${target} (${folder}/${target}/cert.pem)` };
  }
  const cert = target.endsWith('.pem')
    ? await readCert(isAbsolute(target) ? target : join(process.cwd(), target))
    : undefined;
  if (cert !== undefined) return { value: cert.serialHex, label: target };
  if (/^[0-9A-Fa-f:]+$/.test(target)) return { value: target, label: `serial ${target}` };
  throw new TypeError(
    `cannot find what to revoke: ${target} (give a client_id, "server", a serial, or a .pem path)`,
  );
}

function keyType(values: Values): DevKeyType | undefined {
  const value = values['key-type'];
  return value === undefined ? undefined : pick(value, devKeyTypes, '--key-type');
}

/** `value` when it is one of `allowed`; else a usage error that lists them. */
function pick<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`${flag} is one of ${allowed.join(', ')}`);
  return value as T;
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number`);
  return n;
}
