import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { channelDefaults } from '../../core/contracts/channel-settings.ts';
import { Kernel } from '../../core/kernel/kernel.ts';
import { createChannels } from '../../core/engine/channels.ts';
import metrics from '../../mods/metrics.ts';
import { createHttpHooks, type HttpApi, type HttpRequest } from '../../mods/http/api.ts';
import { root } from '../helpers/server.ts';

/** A kernel with a stand-in http service, and a scrape that returns the response body. */
async function setup() {
  const kernel = new Kernel({ channels: createChannels, log: pino({ level: 'silent' }), settings: {}, packageRoot: root });
  const http: HttpApi = { hooks: createHttpHooks(), resolve: () => undefined };
  kernel.provide('http', http);
  await metrics.apply(kernel, { processMetrics: false });
  const scrape = async () => {
    let sent = '';
    const socket = { destroyed: false, resume() {}, end(b: Buffer | string) { sent = b.toString(); } };
    const handled = await http.hooks.request.promise({ method: 'GET', path: '/metrics', socket } as unknown as HttpRequest);
    assert.equal(handled, true);
    return sent.slice(sent.indexOf('\r\n\r\n') + 4);
  };
  return { kernel, scrape };
}

test('series per mount; a closed channel\'s series disappear', async () => {
  const { kernel, scrape } = await setup();
  const a = kernel.channels.create('/a', { ...channelDefaults });
  kernel.channels.create('/b "quoted"', { ...channelDefaults });
  let text = await scrape();
  assert.match(text, /^streamserve_channels 2$/m);
  assert.match(text, /^streamserve_channel_listeners\{mount="\/a"\} 0$/m);
  assert.match(text, /^streamserve_channel_source_up\{mount="\/b \\"quoted\\""\} 0$/m);
  assert.doesNotMatch(text, /process_cpu/, 'process metrics are off in this setup');
  kernel.channels.remove(a);
  text = await scrape();
  assert.match(text, /^streamserve_channels 1$/m);
  assert.doesNotMatch(text, /mount="\/a"/);
});

test('each kernel has its own registry', async () => {
  const one = await setup();
  const two = await setup();
  one.kernel.channels.create('/only-in-one', { ...channelDefaults });
  assert.match(await one.scrape(), /only-in-one/);
  assert.doesNotMatch(await two.scrape(), /only-in-one/);
  for (const k of [one.kernel, two.kernel]) k.channels.closeAll();
});
