// An operator's authenticate module: who may broadcast (and fetch tokens).
//
// List it in main.mods BEFORE `users` so it decides first:
//
//     server
//     filters
//     http
//     ./broadcast-gate.js
//     users
//     fstream
//
// and configure it in your config file under its name, e.g. .streamserverc.yaml:
//
//     broadcast-gate:
//       networks: ["192.168.1.0/24", "127.0.0.1/32"]
//       secret: "studio-key"
//
// A broadcaster whose password is the shared secret is let in under any user
// name. Anyone else broadcasting from outside `networks` is refused. Everything
// else (a broadcaster inside `networks`, every watcher) is left to the modules
// after this one, so the users in users/NAME.ini still need their passwords.
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

const sha = (text) => createHash('sha256').update(text, 'utf8').digest();
const sameSecret = (a, b) => timingSafeEqual(sha(a), sha(b));

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack port) is checked as `10.0.0.1`. */
const plain = (address) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

export default {
  name: 'broadcast-gate',
  description: 'allow broadcasting only from given networks, or with a shared secret',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      networks: {
        type: 'array',
        items: { type: 'string', pattern: '^[0-9A-Fa-f.:]+/\\d{1,3}$' },
        default: ['127.0.0.0/8', '::1/128'],
        description: 'networks (address/prefix) broadcasters may connect from',
      },
      secret: { type: 'string', default: '', description: 'a password that lets any user broadcast (empty = none)' },
    },
  },
  apply(kernel, settings) {
    const log = kernel.logger('broadcast-gate');
    const allowed = new net.BlockList();
    for (const cidr of settings.networks) {
      const [address, prefix] = cidr.split('/');
      const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (!net.isIP(address)) throw new Error(`broadcast-gate.networks: "${cidr}" is not address/prefix`);
      allowed.addSubnet(address, Number(prefix), type);
    }
    kernel.hooks.authenticate.tapPromise('broadcast-gate', async (request) => {
      if (request.action !== 'broadcast' && request.action !== 'token') return undefined;
      if (settings.secret && request.password !== undefined && sameSecret(request.password, settings.secret)) {
        return { allow: true, user: request.user };
      }
      const address = plain(request.remoteAddress);
      const inside = allowed.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
      if (inside) return undefined;
      log.info({ remote: request.remoteAddress, user: request.user, action: request.action }, 'broadcasting refused from outside the allowed networks');
      return { allow: false, reason: 'broadcasting is not allowed from your network' };
    });
  },
};
