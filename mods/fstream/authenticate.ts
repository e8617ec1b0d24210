import type { AuthDecision } from '../../core/contracts/auth.ts';
import type { Connection } from '../../core/contracts/connection.ts';
import type { FstreamContext } from './context.ts';
import type { HandshakeRequest } from './handshake.ts';

/** Asks the authenticate hook about a handshake; the first module with an opinion decides. */
export function authenticate(ctx: FstreamContext, conn: Connection, req: HandshakeRequest, mount?: string): Promise<AuthDecision | undefined> {
  return ctx.kernel.authenticate({
    action: req.action,
    protocol: 'fstream',
    remoteAddress: conn.remoteAddress,
    user: req.user,
    password: 'userPassword' in req ? req.userPassword : undefined,
    token: 'token' in req ? req.token : undefined,
    mount,
    channelPassword: 'channelPassword' in req ? req.channelPassword : undefined,
  });
}
