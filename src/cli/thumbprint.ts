/** `tollgate thumbprint FILE`: the RFC 8705 `x5t#S256` of the first certificate in a PEM file. */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describeFileError, parseCommandLine } from './args.js';
import { exitCodes, exitCodesHelp, type Io, usageError } from './io.js';

export const thumbprintUsage = `Usage: tollgate thumbprint CERT.pem

Prints the RFC 8705 §3.1 x5t#S256 of the first certificate in the file: base64url(SHA-256(DER)),
the value a certificate-bound token carries in cnf and a registry may pin.

${exitCodesHelp}`;

export async function thumbprintCommand(argv: string[], io: Io): Promise<number> {
  let file: string | undefined;
  try {
    const line = parseCommandLine(argv, { options: {}, maxPositionals: 1 });
    if (line.help) {
      io.stdout.write(thumbprintUsage);
      return exitCodes.ok;
    }
    file = line.positionals[0];
  } catch (error) {
    return usageError(io, 'thumbprint', error);
  }
  if (file === undefined) {
    io.stderr.write(`tollgate thumbprint: a certificate file is required\n\n${thumbprintUsage}`);
    return exitCodes.usage;
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const problem = describeFileError(error, 'certificate file');
    if (problem === undefined) throw error;
    io.stderr.write(`tollgate thumbprint: ${problem}\n`);
    return exitCodes.usage;
  }
  let der: Buffer;
  try {
    der = new X509Certificate(bytes).raw;
  } catch {
    io.stderr.write(
      `tollgate thumbprint: ${file} holds no certificate that can be read (expected PEM "-----BEGIN CERTIFICATE-----" or DER)\n`,
    );
    return exitCodes.failed;
  }
  io.stdout.write(`${createHash('sha256').update(der).digest('base64url')}\n`);
  return exitCodes.ok;
}
