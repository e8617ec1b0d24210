import net from 'node:net';

/** Which header a trusted proxy writes the client's address into. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** Entries looked at from the right: a chain of proxies is short, a longer list is someone's junk. */
const MAX_HOPS = 32;

const validPort = (text: string) => /^\d{1,5}$/.test(text) && Number(text) <= 65535;

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack port) as `10.0.0.1`. */
export function plainAddress(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

/**
 * One hop as proxies write it, to a bare IP: `203.0.113.7`, `203.0.113.7:4711`,
 * `2001:db8::1`, `[2001:db8::1]:4711`, quoted or not. Undefined for anything
 * that is not an IP (`unknown`, `_hidden`, a name, junk).
 */
export function hopAddress(raw: string): string | undefined {
  let text = raw.trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim();
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    const rest = text.slice(close + 1);
    if (close < 0 || !(rest === '' || (rest.startsWith(':') && validPort(rest.slice(1))))) return undefined;
    text = text.slice(1, close);
    return net.isIPv6(text) ? text.toLowerCase() : undefined;
  }
  const port = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text);
  if (port) {
    if (!validPort(port[2]!)) return undefined;
    text = port[1]!;
  }
  if (net.isIPv4(text)) return text;
  if (net.isIPv6(text)) return plainAddress(text.toLowerCase());
  return undefined;
}

/** Splits on `sep` outside double quotes (RFC 7239 values may be quoted strings). */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The hops of `X-Forwarded-For: client, proxy1, proxy2`, left to right. */
export function xForwardedForHops(value: string): string[] {
  return value.split(',').map((s) => s.trim());
}

/** The `for=` of each element of `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`, left to right ('' when an element has none). */
export function forwardedHops(value: string): string[] {
  return splitOutsideQuotes(value, ',').map((element) => {
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1).trim();
    }
    return '';
  });
}

/** The trusted proxies' networks; CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses. */
export class TrustedProxies {
  private readonly list = new net.BlockList();
  readonly size: number;

  /** Throws naming the entry that is neither an address nor address/prefix. */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = '', prefix, extra] = cidr.trim().split('/');
      const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
      const max = family === 'ipv4' ? 32 : 128;
      const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
      if (!family || extra !== undefined || !(bits >= 0 && bits <= max)) throw new Error(cidr);
      this.list.addSubnet(address, bits, family);
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    const plain = plainAddress(address);
    if (net.isIPv4(plain)) return this.list.check(plain, 'ipv4');
    return net.isIPv6(plain) && this.list.check(plain, 'ipv6');
  }

  /**
   * The client's address for a request from `peer`: from a trusted proxy, the
   * right-most hop of the header that is not itself a trusted proxy (proxies
   * append, so hops left of that one are the client's to forge), when it is an
   * IP; otherwise, and from anyone else, the peer itself.
   */
  clientAddress(peer: string, headers: Readonly<Record<string, string>>, header: ForwardedHeader): string {
    if (!this.size || !this.has(peer)) return peer;
    const value = headers[header];
    if (value === undefined) return peer;
    const hops = (header === 'forwarded' ? forwardedHops(value) : xForwardedForHops(value)).slice(-MAX_HOPS);
    let client: string | undefined;
    for (let i = hops.length - 1; i >= 0; i--) {
      const address = hopAddress(hops[i]!);
      if (address === undefined) return peer;
      client = address;
      if (!this.has(address)) return address;
    }
    // Every hop is a trusted proxy: the left-most is the nearest to the client we know.
    return client ?? peer;
  }
}
