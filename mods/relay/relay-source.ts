import { pipeline, type Readable } from 'node:stream';
import type { Channel, ChannelInfo } from '../../core/engine/channel.ts';
import type { OpenedSource } from '../../core/contracts/source.ts';
import type { Logger } from '../../core/kernel/log.ts';
import { get, shown, type GetOptions } from './http-get.ts';
import { IcyStrip, MAX_METAINT } from './icy-strip.ts';
import type { Downstream } from './downstream.ts';
import { originInfo } from './origin-info.ts';
import { formatVia, parseVia, VIA_HEADER } from './via.ts';

/** What every relay connection of a server shares. */
export interface RelayContext {
  serverId: string;
  /** The timeout, head bound and redirect limit of each request; headers are added per request. */
  request: Omit<GetOptions, 'headers'>;
  log: Logger;
  /** The servers each relayed channel's stream passed through before ours (its origin's via list). */
  upstream: WeakMap<Channel, string[]>;
  /** The connection each relayed channel reads now. */
  current: Map<Channel, OpenedSource>;
  /** The servers that asked us for each channel, named in our request upstream. */
  downstream: Downstream;
}

/** Pages are not streams: an origin answering one at a stream's URL is misconfigured. */
const NOT_A_STREAM = /^\s*(text\/html|application\/json|application\/xml|text\/xml)\b/i;

function fillInfo(channel: Channel, from: Partial<ChannelInfo>): void {
  // The operator's own fields (a channel's name in the settings file) win over the origin's.
  const info = channel.info;
  for (const [field, value] of Object.entries(from) as [keyof ChannelInfo, string][]) {
    if (info[field] === undefined) info[field] = value;
  }
}

/**
 * Opens another server's stream as a channel's source: asks for ICY titles,
 * strips the origin's metadata blocks and keeps the title on the channel (the
 * icy module re-inserts it for our own listeners who ask), carries the origin's
 * Content-Type and `icy-*` fields over, and refuses a stream that has already
 * passed through this server (a relay loop). No bytes for the timeout: the
 * source fails, and the source runner reopens it with backoff.
 */
export async function openRelay(url: URL, channel: Channel, ctx: RelayContext): Promise<OpenedSource> {
  const answer = await get(url, {
    ...ctx.request,
    headers: { 'User-Agent': 'streamserve-relay', Accept: '*/*', 'Icy-MetaData': '1', [VIA_HEADER]: formatVia([...ctx.downstream.of(channel).filter((id) => id !== ctx.serverId), ctx.serverId]) },
  });
  const { req, res } = answer;
  const where = shown(answer.url);
  const refuse = (why: string) => {
    req.destroy();
    return new Error(`${where}: ${why}`);
  };
  const via = parseVia(res.headers[VIA_HEADER.toLowerCase()]);
  if (via.includes(ctx.serverId)) {
    throw refuse(`relay loop: this stream already passed through this server (via ${via.join(', ')}); not relaying it`);
  }
  const contentType = res.headers['content-type']?.trim() || undefined;
  if (contentType && NOT_A_STREAM.test(contentType)) throw refuse(`answered a page (${contentType}), not a stream`);
  const encoding = res.headers['content-encoding'];
  if (encoding && encoding !== 'identity') throw refuse(`answered with Content-Encoding ${encoding}; streams are relayed as sent`);

  let readable: Readable = res;
  const metaintRaw = res.headers['icy-metaint'];
  const metaintHeader = Array.isArray(metaintRaw) ? metaintRaw.join(',') : metaintRaw;
  if (metaintHeader !== undefined) {
    const metaint = /^\s*\d{1,8}\s*$/.test(metaintHeader) ? Number(metaintHeader) : NaN;
    if (!(metaint >= 1 && metaint <= MAX_METAINT)) throw refuse(`icy-metaint "${metaintHeader}" is not a byte count from 1 to ${MAX_METAINT}`);
    const strip = new IcyStrip(metaint, (title) => {
      if (channel.info.title === title) return;
      channel.info.title = title;
      ctx.log.info({ mount: channel.mount, title }, 'relayed title');
    });
    // Errors reach the stripped stream, which the source runner reads; nothing else needs them.
    pipeline(res, strip, () => {});
    readable = strip;
  }
  ctx.upstream.set(channel, via);
  fillInfo(channel, originInfo(res.headers));

  // Past the head, the socket's idle timeout means a stalled origin.
  req.removeAllListeners('timeout');
  req.on('timeout', () => {
    readable.destroy(new Error(`${where}: no bytes for ${ctx.request.timeoutMs} ms`));
    req.destroy();
  });
  req.on('error', () => {});
  res.once('aborted', () => readable.destroy(new Error(`${where}: the origin closed the connection mid-stream`)));

  const source: OpenedSource = {
    readable,
    describe: `relay ${where}`,
    contentType,
    close() {
      if (ctx.current.get(channel) === source) ctx.current.delete(channel);
      readable.destroy();
      req.destroy();
    },
  };
  ctx.current.set(channel, source);
  return source;
}
