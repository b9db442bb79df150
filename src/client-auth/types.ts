/**
 * The client-authentication contract: each method is a strategy that turns a request into an
 * authenticated client or throws an OAuthError.
 */
import type { ClientAuthMethod, RegisteredClient } from '../registry/index.js';

/** The request parameters, already parsed strictly (one value per name). */
export interface RequestParams {
  get(name: string): string | undefined;
}

/**
 * The certificate the client presented, from the TLS socket or a trusted proxy's header,
 * parsed once per connection.
 */
export interface PresentedCertificate {
  /** base64url SHA-256 of the leaf DER: the `cnf.x5t#S256` value. @see RFC 8705 §3.1 */
  readonly x5tS256: string;
  /** Leaf certificate DER. */
  readonly der: Uint8Array;
  /** The chain the client sent after the leaf (DER), possibly empty. */
  readonly chain: readonly Uint8Array[];
  /** Where it came from. */
  readonly source: 'tls' | 'proxy';
}

/** Everything an authenticator may look at. */
export interface ClientAuthRequest {
  readonly params: RequestParams;
  /** The raw `Authorization` header, if sent. */
  readonly authorization: string | undefined;
  readonly certificate: PresentedCertificate | undefined;
  /** Wall clock of this request, epoch milliseconds. */
  readonly nowMs: number;
}

/** A successfully authenticated client. */
export interface AuthenticatedClient {
  readonly client: RegisteredClient;
  readonly method: ClientAuthMethod;
  /** The assertion's `jti` (private_key_jwt), for the audit log. */
  readonly jti?: string;
  /** The assertion was accepted only through the client's `legacy_audience` opt-in. */
  readonly legacyAudience?: boolean;
}

/** One authentication method. @see STYLE.md §6 */
export interface ClientAuthenticator {
  readonly method: ClientAuthMethod;
  authenticate(request: ClientAuthRequest, client: RegisteredClient): Promise<AuthenticatedClient>;
}
