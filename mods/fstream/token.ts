import type { Connection } from '../../core/contracts/connection.ts';
import { authenticate } from './authenticate.ts';
import { who, type FstreamContext } from './context.ts';
import type { HandshakeRequest } from './handshake.ts';
import { refuse } from './refuse.ts';

type TokenRequest = Extract<HandshakeRequest, { action: 'token' }>;

/** Answers a one-time token as one line of text, then closes. Tokens are kept by the users module. */
export async function token(ctx: FstreamContext, conn: Connection, req: TokenRequest): Promise<void> {
  const fields = { action: 'token', user: req.user };
  const decision = await authenticate(ctx, conn, req);
  if (!decision?.allow) return refuse(ctx, conn, decision?.reason ?? 'no authentication module hands out tokens', req.wantsReason, fields);
  const users = ctx.kernel.service('users');
  if (!users) return refuse(ctx, conn, 'tokens are not available on this server (module users is not loaded)', req.wantsReason, fields);
  if (conn.socket.destroyed) return;
  const issued = users.issueToken(req.user);
  ctx.counts.accepted++;
  ctx.counts.tokens++;
  ctx.log.info({ ...who(conn), ...fields }, 'fstream token issued');
  conn.socket.end(`${issued}\n`);
  conn.socket.on('data', () => {});
  conn.socket.resume();
}
