// The address of the client, as the load balancer saw it. The ALB appends the address it received the request from
// to X-Forwarded-For (its default `append` mode), so only the LAST entry is the load balancer's own word; every
// entry before it, and any `Forwarded` header, came from the client and may be forged.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export function clientAddress(req: IncomingMessage): string | undefined {
  const forwarded = req.headers['x-forwarded-for'];
  // Node joins repeated X-Forwarded-For headers with ", ", so the last entry is the last header's last entry.
  if (typeof forwarded === 'string') {
    const last = forwarded.slice(forwarded.lastIndexOf(',') + 1).trim();
    if (isIP(last) !== 0) return last;
  }
  // No load balancer in front (a local run), or a last entry that is not an address: the peer itself.
  return req.socket.remoteAddress;
}
