/**
 * Typed errors of the PKI module.
 *
 * Untrusted input that cannot be parsed (a certificate, a proxy header, a DN a client registered)
 * becomes a {@link PkiError}: callers map it to an OAuth error or a registry validation error
 * without ever seeing a parser's internal exception. A trust store that cannot be built from its
 * files is a configuration problem and throws {@link TrustStoreError}, which names the input.
 */

/**
 * Why an input was refused:
 * - `malformed`: not the syntax or encoding it must have;
 * - `too_large`: over a configured size or count cap (checked before decoding);
 * - `duplicate`: a singleton header field that occurred more than once.
 */
export type PkiErrorCode = 'malformed' | 'too_large' | 'duplicate';

/** Refused untrusted input; `message` is safe to log, never contains the input itself. */
export class PkiError extends Error {
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'PkiError';
    this.code = code;
  }
}

/** A trust store input (anchor, intermediate, CRL) that cannot be used; stops start-up or reload. */
export class TrustStoreError extends Error {
  /** Which input, e.g. `anchors[0]`, `crls[2]`, or a file path. */
  readonly field: string;

  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(`${field}: ${message}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'TrustStoreError';
    this.field = field;
  }
}
