import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Hashed passwords as stored in `password_hash=`:
 * `scrypt:N:r:p:SALT:HASH` with salt and hash in base64url. The parameters are
 * stored with each hash so they can be raised later without breaking old files.
 */
const COST = 16384;
const BLOCK = 8;
const PARALLEL = 1;
const KEY_BYTES = 32;
/** Refuse parameters that would let an edited file make one check take gigabytes. */
const MAX_COST = 1 << 20;

function derive(password: string, salt: Buffer, n: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST, BLOCK, PARALLEL, KEY_BYTES);
  return ['scrypt', COST, BLOCK, PARALLEL, salt.toString('base64url'), key.toString('base64url')].join(':');
}

interface ParsedHash { n: number; r: number; p: number; salt: Buffer; key: Buffer }

export function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.trim().split(':');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const ok = (x: number) => Number.isInteger(x) && x > 0;
  if (!ok(n) || !ok(r) || !ok(p) || n > MAX_COST || (n & (n - 1)) !== 0 || r > 32 || p > 16) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (!salt.length || key.length < 16 || key.length > 64) return undefined;
  return { n, r, p, salt, key };
}

/** True when `password` matches the stored hash; a malformed hash matches nothing. */
export async function verifyHash(password: string, stored: string): Promise<boolean> {
  const h = parseHash(stored);
  if (!h) return false;
  const key = await derive(password, h.salt, h.n, h.r, h.p, h.key.length);
  return timingSafeEqual(key, h.key);
}
