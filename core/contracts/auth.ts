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
  /** The request's query parameters, when the protocol has them (an HTTP listener's `?key=value`). */
  query?: Record<string, string>;
}

export type AuthDecision =
  /**
   * `maxDurationMs`: a listener let in is disconnected after this long (the
   * engine keeps it, as it keeps `-client-max-bytes`); other actions ignore it.
   */
  | { allow: true; user?: string; maxDurationMs?: number }
  /** `forbidden`: the credentials are right but this action is not theirs to take (HTTP 403, not 401). */
  | { allow: false; reason: string; forbidden?: boolean };
