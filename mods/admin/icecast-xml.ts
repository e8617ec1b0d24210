import type { ListenerRow, MountRow, Outcome } from './actions.ts';

/** Characters XML 1.0 cannot carry at all (a User-Agent may hold them); markup characters escaped. */
function text(value: string): string {
  return value
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

const el = (name: string, value: string | number) => `<${name}>${text(String(value))}</${name}>`;

/** Icecast 2.4's `<listener>`: `UserAgent` is `Unknown` when none was sent, `username` only for a logged-in listener. */
function listener(l: ListenerRow): string {
  const user = l.user !== undefined ? el('username', l.user) : '';
  return `<listener>${el('IP', l.address)}${el('UserAgent', l.userAgent ?? 'Unknown')}${el('Connected', l.connectedSeconds)}${el('ID', l.id)}${user}</listener>`;
}

/** Icecast 2.4's `listmounts` source; we have no fallback mounts, so `<fallback>` is empty as in Icecast without one. */
function mount(m: MountRow): string {
  return `<source mount="${text(m.mount)}"><fallback></fallback>${el('listeners', m.listeners)}${el('Connected', m.sourceSeconds)}${el('content-type', m.contentType)}</source>`;
}

/** The document Icecast 2.4 answers, in its element names and order (scripts index into it). */
export function icecastXml(outcome: Exclude<Outcome, { kind: 'refused' }>): string {
  let body: string;
  switch (outcome.kind) {
    case 'clients':
      body = `<icestats><source mount="${text(outcome.mount)}">${el('Listeners', outcome.listeners.length)}${outcome.listeners.map(listener).join('')}</source></icestats>`;
      break;
    case 'mounts': {
      const current = outcome.current !== undefined ? el('current_source', outcome.current) : '';
      body = `<icestats>${current}${outcome.mounts.map(mount).join('')}</icestats>`;
      break;
    }
    case 'done':
      body = `<iceresponse>${el('message', outcome.message)}${el('return', outcome.ok ? 1 : 0)}</iceresponse>`;
      break;
  }
  return `<?xml version="1.0"?>\n${body}\n`;
}
