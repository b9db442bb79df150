/**
 * The client-authentication contract: each method is a strategy that turns a request into an
 * authenticated client or throws an OAuthError.
 */
import type { PresentedCertificate } from '../pki/index.js';
import type { ClientAuthMethod, RegisteredClient } from '../registry/index.js';

export type { PresentedCertificate };

/** The request parameters, already parsed strictly (one value per name). */
export interface RequestParams {
  get(name: string): string | undefined;
}

/** Everything an authenticator may look at. */
export interface ClientAuthRequest {
  readonly params: RequestParams;
  /** The raw `Authorization` header, if sent. */
  readonly authorization: string | undefined;
  readonly certificate: PresentedCertificate | undefined;
  /** Wall clock of this request, epoch milliseconds. */
  readonly nowMs: number;
  /**
   * Told the client_id the request claims as soon as it is known, before anything is verified
   * (rate limits and audit); may throw to stop the request.
   */
  readonly onIdentified?: (clientId: string, method: ClientAuthMethod) => void;
}

/** A successfully authenticated client. */
export interface AuthenticatedClient {
  readonly client: RegisteredClient;
  readonly method: ClientAuthMethod;
  /** The assertion's `jti` (private_key_jwt), for the audit log. */
  readonly jti?: string;
  /** The assertion was accepted only through the client's `legacy_audience` opt-in. */
  readonly legacyAudience?: boolean;
  /** Workload methods: the trust source that vouched and the workload identity it vouched for. */
  readonly workload?: { readonly source: string; readonly identity: string };
}

/** One authentication method. @see STYLE.md §6 */
export interface ClientAuthenticator {
  readonly method: ClientAuthMethod;
  authenticate(request: ClientAuthRequest, client: RegisteredClient): Promise<AuthenticatedClient>;
}
