// The board's page and its assets (`npm run build` writes them to dist/board), served by carebridge
// itself under /board with a Content-Security-Policy that lets the page load and call nothing but
// this origin: no inline script or style, no other host, no framing. The rest of carebridge keeps
// the API's policy (nothing at all; hardening/security-headers.ts).
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { issueOutcome, sendOutcome } from '../hardening/outcome.ts';

export const BOARD_DIST = fileURLToPath(new URL('../../../dist/board/', import.meta.url));

export const BOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Vite names assets by their content hash: a changed file is a new name, so they may be kept for good. */
const ASSET_MAX_AGE = '365d';

export function boardStatic(dir: string = BOARD_DIST): Router {
  const router = express.Router();
  const index = `${dir}index.html`;
  router.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', BOARD_CSP);
    next();
  });
  router.use('/assets', express.static(`${dir}assets`, { index: false, immutable: true, maxAge: ASSET_MAX_AGE, fallthrough: true }));
  router.use(express.static(dir, { index: false, fallthrough: true, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }));
  // The page itself, for /board and /board/ (its views live in the URL's fragment).
  router.get('/', (_req, res) => {
    if (!existsSync(index)) {
      sendOutcome(res, 404, issueOutcome('not-found', 'The board is not built: run npm run build'));
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
