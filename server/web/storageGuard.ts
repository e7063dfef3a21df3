/**
 * HTTP writes while the database cannot be written (storageHealth.ts): every POST, PUT, PATCH
 * and DELETE answers 503 with the storage error (GG_STORAGE_FULL / GG_STORAGE_IO: what
 * happened, that nothing stored is lost, what to do) before any handler runs, so no request
 * is half-applied. Reads go on (logging in and out write their session: they wait too). The check
 * runs before authentication: the storage state is public anyway (/healthz, the pages).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { StorageHealth } from '../storageHealth.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function refuseWritesWhileDegraded(health: StorageHealth): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (health.writable || READS.has(req.method)) return next();
    next(health.refusal(`${req.method} ${req.path}`));
  };
}
