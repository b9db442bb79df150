/** `tollgate dev-ca <command>`: the development PKI (same as `npm run dev-ca -- <command>`). */
import { runDevCaCli } from '../dev-ca/index.js';
import type { Io } from './io.js';

export function devCaCommand(argv: string[], io: Io): Promise<number> {
  return runDevCaCli(argv, io);
}
