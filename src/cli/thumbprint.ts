/** `tollgate thumbprint FILE`: the RFC 8705 `x5t#S256` of the first certificate in a PEM file. */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exitCodes, type Io } from './io.js';

export async function thumbprintCommand(argv: string[], io: Io): Promise<number> {
  const [file] = argv;
  if (file === undefined || file.startsWith('-')) {
    io.stderr.write('Usage: tollgate thumbprint CERT.pem\n');
    return exitCodes.usage;
  }
  try {
    const der = new X509Certificate(readFileSync(file)).raw;
    io.stdout.write(`${createHash('sha256').update(der).digest('base64url')}\n`);
    return exitCodes.ok;
  } catch (error) {
    io.stderr.write(`tollgate thumbprint: ${(error as Error).message}\n`);
    return exitCodes.failed;
  }
}
