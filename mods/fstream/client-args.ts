import type { HandshakeFields } from './handshake.ts';

export const USAGE = `usage: fstream [--tls] [--ca FILE] HOST:PORT token|broadcast|watch

  token      print a one-time broadcast token (needs fserv_arg_user, fserv_arg_user_password)
  broadcast  send stdin to the channel (fserv_arg_user and fserv_arg_user_password or fserv_arg_token;
             optional fserv_arg_channel, fserv_arg_channel_password, fserv_arg_bufsize)
  watch      write the channel to stdout (fserv_arg_user; optional fserv_arg_channel, fserv_arg_channel_password)

  --tls      connect with TLS (the server's -tls-address port)
  --ca FILE  trust this CA certificate (PEM) for --tls, e.g. a self-signed server certificate
`;

export type Command = 'token' | 'broadcast' | 'watch';

export interface ClientArgs {
  host: string;
  port: number;
  command: Command;
  tls: boolean;
  ca?: string;
}

/** The client's command line, or a message saying what is wrong with it. */
export function parseClientArgs(argv: readonly string[]): ClientArgs | { help: true } | string {
  let tls = false;
  let ca: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help' || a === '-help') return { help: true };
    if (a === '--tls' || a === '-tls') { tls = true; continue; }
    const m = /^--?ca(?:=(.*))?$/.exec(a);
    if (m) {
      ca = m[1] ?? argv[++i];
      if (!ca) return '--ca needs a file';
      continue;
    }
    if (a.startsWith('-') && a.length > 1) return `unknown option ${a}`;
    positional.push(a);
  }
  if (positional.length !== 2) return 'expected HOST:PORT and a command';
  const [target, command] = positional as [string, string];
  const t = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(target);
  const port = t ? Number(t[3]) : NaN;
  if (!t || port < 1 || port > 65535) return `"${target}" is not HOST:PORT`;
  if (command !== 'token' && command !== 'broadcast' && command !== 'watch') return `unknown command "${command}" (token, broadcast or watch)`;
  if (ca) tls = true;
  return { host: (t[1] ?? t[2])!, port, command, tls, ca };
}

/** The handshake fields from the original's `fserv_arg_*` variables, or what is missing. */
export function fieldsFromEnv(command: Command, env: NodeJS.ProcessEnv): HandshakeFields | string {
  const get = (name: string) => env[`fserv_arg_${name}`] || undefined;
  const fields: HandshakeFields = { action: command, user: get('user') };
  if (!fields.user) return 'set fserv_arg_user';
  if (command === 'token') {
    fields.user_password = get('user_password');
    if (!fields.user_password) return 'set fserv_arg_user_password';
  } else if (command === 'broadcast') {
    fields.user_password = get('user_password');
    fields.token = get('token');
    if (!fields.user_password && !fields.token) return 'set fserv_arg_user_password or fserv_arg_token';
    fields.bufsize = get('bufsize');
    if (fields.bufsize !== undefined && !/^\d+$/.test(String(fields.bufsize))) return 'fserv_arg_bufsize must be a whole number of bytes';
  }
  if (command !== 'token') {
    fields.channel = get('channel');
    fields.channel_password = get('channel_password');
  }
  return fields;
}
