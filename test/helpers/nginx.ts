/**
 * A real nginx (Debian package) started for a test: it terminates TLS on 127.0.0.1, asks for a
 * client certificate without verifying it (`ssl_verify_client optional_no_ca`) and forwards it
 * to an upstream as `$ssl_client_escaped_cert`. Config, pid and logs live in a temp folder.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

/** The nginx binary, or undefined when nginx is not installed. */
export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  return undefined;
}

export interface RunningNginx {
  readonly port: number;
  stop(): Promise<void>;
}

export async function startNginx(options: {
  binary: string;
  certPem: string;
  keyPem: string;
  upstreamPort: number;
  header?: string;
}): Promise<RunningNginx> {
  const header = options.header ?? 'X-SSL-Client-Cert';
  return startNginxServer({
    binary: options.binary,
    files: { 'server.pem': options.certPem, 'server-key.pem': options.keyPem },
    server: (dir, port) => `
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/server.pem;
    ssl_certificate_key ${dir}/server-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    location / {
      proxy_pass http://127.0.0.1:${options.upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      # Always set: an empty value drops the header, so a client cannot inject its own.
      proxy_set_header ${header} $ssl_client_escaped_cert;
    }
  }`,
  });
}

/**
 * Starts nginx with a `server { ... }` block of the caller's (docs/deployment.md's, say) inside
 * an `http` block whose temp paths, pid and logs live in a temp folder. `files` are written there
 * first (0600); `server` gets that folder and the port to listen on.
 */
export async function startNginxServer(options: {
  binary: string;
  files: Readonly<Record<string, string>>;
  server: (dir: string, port: number) => string;
}): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-nginx-'));
  await mkdir(join(dir, 'temp'), { recursive: true });
  for (const [name, content] of Object.entries(options.files)) {
    await writeFile(join(dir, name), content, { mode: 0o600 });
  }
  const port = await freePort();
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
${options.server(dir, port)}
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(
    options.binary,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  await waitForPort(port, 5000, () => child.exitCode !== null).catch(async (error: unknown) => {
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${(error as Error).message}\n${stderr}\n${log}`);
  });
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGQUIT');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port (bounded in time). */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  failed: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failed()) throw new Error('the process exited');
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}
