/** The memory rate-limit store against the shared contract. */
import { MemoryRateLimitStore } from '../../src/rate-limit/index.js';
import { rateLimitStoreContract } from './contract.js';

rateLimitStoreContract('memory', async (clock) => new MemoryRateLimitStore({ clock }));
