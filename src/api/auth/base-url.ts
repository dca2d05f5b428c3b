// The server's base URL as clients reach it: PUBLIC_URL when set (behind a proxy or a load
// balancer, and for several instances, so that every one agrees), else the request's own host.
import type { Request } from 'express';

export function serverBase(req: Request, publicUrl: string | undefined): string {
  return (publicUrl ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`).replace(/\/+$/, '');
}
