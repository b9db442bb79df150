/**
 * JSON schema of the merged configuration. Unknown keys are errors, so a typo in a config file
 * stops start-up instead of silently keeping a default.
 */
import {
  accessTokenAlgs,
  logFormats,
  logLevels,
  profiles,
  proxyCertificateFormats,
} from './types.js';

/** `host:port` nodes (IPv6 in brackets), for Redis Sentinel and Cluster. */
const redisNodes = {
  type: 'array',
  maxItems: 64,
  items: {
    type: 'string',
    pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]\\s]+):[0-9]{1,5}$',
    maxLength: 300,
  },
} as const;

const positiveInt = (maximum: number) => ({ type: 'integer', minimum: 1, maximum }) as const;
const path = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const nullablePath = { type: ['string', 'null'], minLength: 1, maxLength: 4096 } as const;
const host = { type: 'string', minLength: 1, maxLength: 255 } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;
/** RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\\'. */
const scopeToken = { type: 'string', pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$' } as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'issuer',
    'profile',
    'devPkiDir',
    'tls',
    'mtls',
    'plain',
    'clientCertificates',
    'keyPolicy',
    'reload',
    'proxy',
    'accessToken',
    'signingKeys',
    'clientAuth',
    'dpop',
    'limits',
    'replay',
    'redis',
    'rateLimits',
    'registry',
    'remoteJwks',
    'underPressure',
    'shutdownTimeoutSeconds',
    'shutdownDrainSeconds',
    'admin',
    'metrics',
    'log',
    'scopesSupported',
    'workloadIdentity',
  ],
  properties: {
    issuer: { type: 'string', minLength: 1, maxLength: 2048 },
    profile: { enum: [...profiles] },
    // Removed setting, kept loadable when false (see ConfigInput); `true` fails a named check.
    unsafeDevDefaults: { type: 'boolean' },
    devPkiDir: path,
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'port', 'certFile', 'keyFile', 'requestClientCert'],
      properties: {
        host,
        port,
        certFile: nullablePath,
        keyFile: nullablePath,
        requestClientCert: { type: 'boolean' },
      },
    },
    mtls: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'host', 'port', 'publicUrl'],
      properties: {
        enabled: { type: 'boolean' },
        host,
        port,
        publicUrl: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
      },
    },
    plain: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'host', 'port'],
      properties: { enabled: { type: 'boolean' }, host, port },
    },
    clientCertificates: {
      type: 'object',
      additionalProperties: false,
      required: [
        'trustAnchorFiles',
        'intermediateFiles',
        'crlFiles',
        'crlStaleness',
        'requireCrls',
        'maxChainCertificates',
        'maxIntermediates',
      ],
      properties: {
        trustAnchorFiles: { type: 'array', items: path, maxItems: 64 },
        intermediateFiles: { type: 'array', items: path, maxItems: 256 },
        crlFiles: { type: 'array', items: path, maxItems: 256 },
        crlStaleness: { enum: ['fail', 'ignore'] },
        requireCrls: { type: 'boolean' },
        maxChainCertificates: positiveInt(32),
        maxIntermediates: positiveInt(32),
      },
    },
    keyPolicy: {
      type: 'object',
      additionalProperties: false,
      required: ['minRsaBits'],
      properties: {
        minRsaBits: { type: 'integer', minimum: 2048, maximum: 16_384, multipleOf: 8 },
      },
    },
    reload: {
      type: 'object',
      additionalProperties: false,
      required: ['pollIntervalSeconds'],
      properties: { pollIntervalSeconds: positiveInt(86_400) },
    },
    proxy: {
      type: 'object',
      additionalProperties: false,
      required: [
        'trustedCidrs',
        'certificateFormat',
        'nginxHeader',
        'maxHeaderBytes',
        'clientAddressHeader',
        'proxyProtocol',
      ],
      properties: {
        trustedCidrs: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 64 },
          maxItems: 256,
        },
        certificateFormat: { enum: [...proxyCertificateFormats] },
        nginxHeader: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' },
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 262_144 },
        clientAddressHeader: { enum: ['x-forwarded-for', 'forwarded'] },
        proxyProtocol: { type: 'boolean' },
      },
    },
    accessToken: {
      type: 'object',
      additionalProperties: false,
      required: ['lifetimeSeconds', 'signingAlg', 'defaultAudience', 'resourceScopes'],
      properties: {
        lifetimeSeconds: positiveInt(86_400),
        signingAlg: { enum: [...accessTokenAlgs] },
        defaultAudience: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
        // Each scope names at most one resource: checked by name (resourceScopesAreDisjoint).
        resourceScopes: {
          type: 'array',
          maxItems: 256,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['resource', 'scopes'],
            properties: {
              resource: { type: 'string', minLength: 1, maxLength: 2048 },
              scopes: {
                type: 'array',
                minItems: 1,
                maxItems: 1024,
                uniqueItems: true,
                items: scopeToken,
              },
            },
          },
        },
      },
    },
    signingKeys: {
      type: 'object',
      additionalProperties: false,
      required: ['file'],
      properties: { file: nullablePath },
    },
    clientAuth: {
      type: 'object',
      additionalProperties: false,
      required: [
        'clockToleranceSeconds',
        'maxAssertionLifetimeSeconds',
        'maxAssertionBytes',
        'signingAlgs',
      ],
      properties: {
        // rfc7523bis/FAPI 2.0: 10 s ahead is always accepted, more than 60 s never.
        clockToleranceSeconds: { type: 'integer', minimum: 10, maximum: 60 },
        maxAssertionLifetimeSeconds: positiveInt(3600),
        maxAssertionBytes: { type: 'integer', minimum: 512, maximum: 65_536 },
        signingAlgs: {
          type: ['array', 'null'],
          items: { type: 'string' },
          minItems: 1,
          uniqueItems: true,
        },
      },
    },
    dpop: {
      type: 'object',
      additionalProperties: false,
      required: [
        'enabled',
        'signingAlgs',
        'maxAgeSeconds',
        'clockToleranceSeconds',
        'maxProofBytes',
        'nonce',
      ],
      properties: {
        enabled: { type: 'boolean' },
        signingAlgs: {
          type: ['array', 'null'],
          items: { type: 'string' },
          minItems: 1,
          uniqueItems: true,
        },
        maxAgeSeconds: { type: 'integer', minimum: 5, maximum: 600 },
        clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 60 },
        maxProofBytes: { type: 'integer', minimum: 1024, maximum: 16_384 },
        nonce: {
          type: 'object',
          additionalProperties: false,
          required: ['required', 'secretFile', 'windowSeconds'],
          properties: {
            required: { type: 'boolean' },
            secretFile: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
            windowSeconds: { type: 'integer', minimum: 5, maximum: 3600 },
          },
        },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      required: [
        'bodyBytes',
        'requestTimeoutSeconds',
        'keepAliveTimeoutSeconds',
        'connectionsPerAddress',
        'maxConnections',
      ],
      properties: {
        bodyBytes: { type: 'integer', minimum: 1024, maximum: 1_048_576 },
        requestTimeoutSeconds: positiveInt(300),
        keepAliveTimeoutSeconds: positiveInt(300),
        connectionsPerAddress: positiveInt(1_000_000),
        maxConnections: positiveInt(1_000_000),
      },
    },
    replay: {
      type: 'object',
      additionalProperties: false,
      required: ['store', 'maxEntries', 'maxClientShare'],
      properties: {
        store: { enum: ['memory', 'redis'] },
        maxEntries: positiveInt(100_000_000),
        maxClientShare: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
      },
    },
    redis: {
      type: 'object',
      additionalProperties: false,
      required: [
        'url',
        'keyPrefix',
        'connectTimeoutMs',
        'commandTimeoutMs',
        'sentinels',
        'sentinelName',
        'clusterNodes',
        'replicaAcks',
        'replicaAckTimeoutMs',
      ],
      properties: {
        url: { type: 'string', pattern: '^rediss?://', maxLength: 2048 },
        keyPrefix: { type: 'string', maxLength: 64 },
        connectTimeoutMs: positiveInt(60_000),
        commandTimeoutMs: positiveInt(60_000),
        sentinels: redisNodes,
        sentinelName: {
          oneOf: [{ type: 'null' }, { type: 'string', minLength: 1, maxLength: 256 }],
        },
        clusterNodes: redisNodes,
        replicaAcks: { type: 'integer', minimum: 0, maximum: 16 },
        replicaAckTimeoutMs: positiveInt(60_000),
      },
    },
    rateLimits: {
      type: 'object',
      additionalProperties: false,
      required: [
        'enabled',
        'store',
        'windowSeconds',
        'perClient',
        'perAddress',
        'failedAuthPerAddress',
        'failedAuthPerClient',
        'maxKeys',
      ],
      properties: {
        enabled: { type: 'boolean' },
        store: { enum: ['memory', 'redis'] },
        windowSeconds: positiveInt(86_400),
        perClient: positiveInt(100_000_000),
        perAddress: positiveInt(100_000_000),
        failedAuthPerAddress: positiveInt(100_000_000),
        failedAuthPerClient: positiveInt(100_000_000),
        maxKeys: { type: 'integer', minimum: 1000, maximum: 100_000_000 },
      },
    },
    registry: {
      type: 'object',
      additionalProperties: false,
      required: ['file', 'clients'],
      properties: {
        file: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
        // Each entry is validated by the registry, which knows RFC 7591 metadata.
        clients: { type: 'array', items: { type: 'object' } },
      },
    },
    remoteJwks: {
      type: 'object',
      additionalProperties: false,
      required: ['timeoutMs', 'maxBytes', 'minRefetchIntervalSeconds'],
      properties: {
        timeoutMs: positiveInt(30_000),
        maxBytes: { type: 'integer', minimum: 1024, maximum: 1_048_576 },
        minRefetchIntervalSeconds: positiveInt(3600),
      },
    },
    underPressure: {
      type: 'object',
      additionalProperties: false,
      required: [
        'maxEventLoopDelayMs',
        'maxEventLoopUtilization',
        'retryAfterSeconds',
        'sampleIntervalMs',
      ],
      properties: {
        maxEventLoopDelayMs: { type: 'integer', minimum: 0, maximum: 60_000 },
        maxEventLoopUtilization: { type: 'number', minimum: 0, maximum: 1 },
        retryAfterSeconds: positiveInt(3600),
        sampleIntervalMs: { type: 'integer', minimum: 10, maximum: 60_000 },
      },
    },
    shutdownTimeoutSeconds: positiveInt(3600),
    shutdownDrainSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    admin: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'host', 'port'],
      properties: { enabled: { type: 'boolean' }, host, port },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'allowedCidrs', 'processMetrics'],
      properties: {
        enabled: { type: 'boolean' },
        allowedCidrs: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 64 },
          maxItems: 256,
        },
        processMetrics: { type: 'boolean' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      required: ['level', 'format'],
      properties: { level: { enum: [...logLevels] }, format: { enum: [...logFormats] } },
    },
    scopesSupported: {
      type: ['array', 'null'],
      items: scopeToken,
      maxItems: 1024,
      uniqueItems: true,
    },
    workloadIdentity: {
      type: 'object',
      additionalProperties: false,
      required: ['sources'],
      properties: {
        sources: {
          type: 'array',
          maxItems: 64,
          // Kind-specific fields are cross-checked by name (workloadSourcesAreComplete).
          items: {
            type: 'object',
            additionalProperties: false,
            required: [
              'kind',
              'name',
              'algorithms',
              'maxTokenAgeSeconds',
              'clockToleranceSeconds',
              'jti',
            ],
            properties: {
              kind: { enum: ['spiffe', 'oidc-issuer'] },
              name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
              trustDomain: { type: 'string', minLength: 1, maxLength: 255 },
              bundleEndpointUrl: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
              bundleFile: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
              issuer: { type: 'string', minLength: 1, maxLength: 2048 },
              jwksFile: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
              caFile: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
              defaultRefreshHintSeconds: positiveInt(86_400),
              maxStalenessSeconds: { type: 'integer', minimum: 0, maximum: 604_800 },
              algorithms: {
                type: 'array',
                items: { type: 'string' },
                minItems: 1,
                uniqueItems: true,
              },
              maxTokenAgeSeconds: positiveInt(172_800),
              clockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 300 },
              jti: { enum: ['reuse-allowed', 'unique-when-present', 'required-unique'] },
            },
          },
        },
      },
    },
  },
} as const;
