/** `npm run dev-ca -- <command>`: the development PKI CLI (see certs/README.md). */
import { runDevCaCli } from '../src/dev-ca/index.js';

process.exitCode = await runDevCaCli(process.argv.slice(2));
