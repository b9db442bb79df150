/** The HTTP face of Tollgate: the Fastify app, its routes and the server wiring. */
export { type BuildAppOptions, buildApp } from './app.js';
export { FormParams, parseForm } from './form.js';
export {
  allowedAssertionAlgs,
  createTollgate,
  deploymentProblems,
  loadConfiguredRegistry,
  loadTrustStore,
  type Tollgate,
  type TollgateOptions,
  wellKnownPaths,
} from './server.js';
export { TokenEndpoint, type TokenResponse } from './token-endpoint.js';
