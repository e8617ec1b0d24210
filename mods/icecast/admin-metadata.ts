import type { Kernel } from '../../core/kernel/kernel.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { respond, respondText, type HttpRequest } from '../http/index.ts';
import { authorizeMetadata } from './authorize.ts';
import { parseMetadataQuery } from './metadata-query.ts';
import { REALM } from './replies.ts';

/** Icecast's answer, byte for byte: libshout and butt only look at the status, scripts at `<return>`. */
const SUCCESS = '<?xml version="1.0"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>';

/**
 * `GET /admin/metadata?mount=/m&mode=updinfo&song=…`: sets the channel's title,
 * which ICY listeners get in their next metadata block and status pages show.
 */
export async function updateMetadata(kernel: Kernel, req: HttpRequest, log: Logger): Promise<void> {
  const { socket } = req;
  if (req.method !== 'GET') {
    respondText(socket, 405, `method ${req.method} not allowed on ${req.path}`, { Allow: 'GET' });
    return;
  }
  if (!req.basic) {
    respondText(socket, 401, 'credentials required', { 'WWW-Authenticate': REALM });
    return;
  }
  const query = parseMetadataQuery(req.target);
  if (!query.ok) {
    respondText(socket, 400, query.reason);
    return;
  }
  const channel = kernel.channels.get(query.mount);
  if (!channel) {
    respondText(socket, 404, `no mount ${query.mount}`);
    return;
  }
  const verdict = await authorizeMetadata(kernel, req.basic, channel, req.remoteAddress);
  if (!verdict.ok) {
    log.info({ mount: channel.mount, user: req.basic.user, remote: req.remoteAddress, status: verdict.status, reason: verdict.reason }, 'metadata update refused');
    respondText(socket, verdict.status, verdict.reason, verdict.status === 401 ? { 'WWW-Authenticate': REALM } : {});
    return;
  }
  channel.info.title = query.title;
  log.info({ mount: channel.mount, user: verdict.user, title: query.title }, 'title updated');
  respond(socket, 200, { 'Content-Type': 'text/xml; charset=utf-8' }, SUCCESS);
}
