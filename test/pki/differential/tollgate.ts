/**
 * Tollgate's side of the differential: one case through a fresh `TrustStore`, as a client chain
 * arrives (leaf and the certificates sent, as DER), with the case's anchors and CRLs (and, for
 * CRL cases, the sent intermediates configured, so that their CRLs are accepted).
 */
import { TrustStore, TrustStoreError } from '../../../src/pki/index.js';
import type { DiffCase } from './cases.js';

/** Tollgate's verdict on one case: accepted, or the refusing check and its detail. */
export function tollgateVerdict(one: DiffCase, now: Date): { ok: boolean; reason: string } {
  let store: TrustStore;
  try {
    store = TrustStore.fromPem(
      {
        anchors: one.anchors.map((cert) => cert.der),
        // A CRL is accepted only from a configured CA, so CRL cases configure the intermediates
        // they send (as a deployment that checks their CRLs must); OpenSSL gets them as sent.
        ...(one.crls === undefined
          ? {}
          : { crls: one.crls.map((crl) => crl.der), intermediates: one.sent.map((c) => c.der) }),
      },
      { requireCrls: one.crls !== undefined },
    );
  } catch (error) {
    if (error instanceof TrustStoreError) return { ok: false, reason: `store: ${error.message}` };
    throw error;
  }
  const result = store.validate(
    one.leaf.der,
    one.sent.map((cert) => cert.der),
    { now },
  );
  return result.ok
    ? { ok: true, reason: 'ok' }
    : { ok: false, reason: `${result.check}: ${result.detail}` };
}
