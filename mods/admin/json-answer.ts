import type { ListenerRow, MountRow, Outcome } from './actions.ts';

/** Our JSON (README "Admin actions"): snake_case as in /status.json, every field always present. */
function listener(l: ListenerRow) {
  return {
    id: l.id,
    address: l.address,
    user_agent: l.userAgent ?? null,
    protocol: l.protocol,
    user: l.user ?? null,
    connected_seconds: l.connectedSeconds,
    bytes_sent: l.bytesSent,
  };
}

function mount(m: MountRow) {
  return { mount: m.mount, listeners: m.listeners, content_type: m.contentType, source_up: m.sourceUp, source_connected_seconds: m.sourceSeconds };
}

export function jsonAnswer(outcome: Outcome): unknown {
  switch (outcome.kind) {
    case 'clients':
      return { mount: outcome.mount, listeners: outcome.listeners.map(listener) };
    case 'mounts':
      return outcome.current !== undefined ? { current_source: outcome.current, mounts: outcome.mounts.map(mount) } : { mounts: outcome.mounts.map(mount) };
    case 'done':
      return outcome.moved !== undefined ? { ok: outcome.ok, message: outcome.message, moved: outcome.moved } : { ok: outcome.ok, message: outcome.message };
    case 'refused':
      return { ok: false, error: outcome.message };
  }
}
