export * from './api/auth.js';
export * from './api/common.js';
export * from './api/health.js';
export * from './errors.js';
export * from './roles.js';
