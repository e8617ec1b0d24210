import ini from 'ini';

/** One user as written in `users/NAME.ini`. */
export interface UserRecord {
  name: string;
  /** Plaintext `password=`, as the original fstream stores it. */
  password?: string;
  /** `password_hash=scrypt:…`, written by `streamserve passwd NAME`; wins over `password`. */
  passwordHash?: string;
  /** `mounts=/live.mp3,/radio/*`: mounts beyond `/NAME/…` the user may publish to. */
  mounts: string[];
  /** `admin=true`: may update any mount's metadata (Icecast's admin user). */
  admin: boolean;
}

/**
 * Reads a user file the way the original's configparser sees it: keys in
 * `[DEFAULT]` or before any section, names case-insensitive. Values are always
 * text (the ini library would turn `password=true` into a boolean).
 */
export function parseUserFile(name: string, text: string): UserRecord {
  const data = ini.decode(text) as Record<string, unknown>;
  const fields = new Map<string, string>();
  const take = (obj: Record<string, unknown>, override: boolean) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === 'object') continue;
      const key = k.toLowerCase();
      if (override || !fields.has(key)) fields.set(key, String(v ?? ''));
    }
  };
  for (const [k, v] of Object.entries(data)) {
    if (k.toUpperCase() === 'DEFAULT' && v !== null && typeof v === 'object') take(v as Record<string, unknown>, false);
  }
  take(data, true);
  const mounts = (fields.get('mounts') ?? '').split(',').map((m) => m.trim()).filter((m) => m.startsWith('/'));
  const admin = /^(1|true|yes|on)$/i.test(fields.get('admin') ?? '');
  return { name, password: fields.get('password'), passwordHash: fields.get('password_hash') || undefined, mounts, admin };
}
