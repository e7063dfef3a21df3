/**
 * The automatic revert's kill switch over HTTP: `GET /api/autorevert` (anyone: `{ state: on|off }`)
 * and `POST /api/autorevert` `{ state: on|off }` (admin only: `requireAdmin`, 401 without the
 * token). Off stops every automatic revert not yet made (each is settled 'refused', saying so);
 * on lets the next confirmed culprits be reverted. `greengate autorevert off|on` calls it.
 */
import express, { type RequestHandler, type Router } from 'express';
import { jsonBody } from './bodyLimit.js';
import { z } from 'zod';
import { parseOrThrow } from './api.js';
import { actorOf } from './admin.js';

export interface AutoRevertApiDeps {
  requireAdmin: RequestHandler;
  switchState(): { state: 'on' | 'off' };
  setEnabled(on: boolean, actor: string | null): void;
}

const Body = z.strictObject({ state: z.enum(['on', 'off'], 'must be "on" or "off"'), actor: z.string().max(200).optional() });

export function autoRevertRouter(deps: AutoRevertApiDeps): Router {
  const r = express.Router();
  r.get('/autorevert', (_req, res) => { res.json(deps.switchState()); });
  r.post('/autorevert', deps.requireAdmin, jsonBody(4096), (req, res) => {
    const body = parseOrThrow(Body, req.body ?? {}, 'autorevert switch');
    deps.setEnabled(body.state === 'on', actorOf(res, body.actor));
    res.json(deps.switchState());
  });
  return r;
}
