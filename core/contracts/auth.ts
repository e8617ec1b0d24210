/** What a client asks to do; every protocol maps its handshake onto this. */
export type AuthAction = 'broadcast' | 'watch' | 'token' | 'admin';

export interface AuthRequest {
  action: AuthAction;
  /** 'fstream', 'http', 'icecast', … */
  protocol: string;
  remoteAddress: string;
  user?: string;
  password?: string;
  token?: string;
  /** The channel's mount, e.g. `/fier/default`. */
  mount?: string;
  channelPassword?: string;
}

export type AuthDecision =
  | { allow: true; user?: string }
  /** `forbidden`: the credentials are right but this action is not theirs to take (HTTP 403, not 401). */
  | { allow: false; reason: string; forbidden?: boolean };
