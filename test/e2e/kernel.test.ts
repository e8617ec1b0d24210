// The kernel end to end: the real CLI (dist/, so `npm run build` first) started in
// a temporary folder whose main.mods lists the operator's own modules around the
// built-in ones.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ERR } from '../../core/kernel/errors.ts';
import { runCli, startServer, type Server } from '../helpers/server.ts';

const T = { timeout: 30_000 };
const dir = mkdtempSync(join(tmpdir(), 'streamserve-kernel-e2e-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function write(files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** An operator module in plain JavaScript that claims connections starting with one of `prefixes`. */
const claimer = (name: string, prefixes: string[], answer: string, extra = '') => `// An operator's own module, as an operator would write it: no imports needed.
export default {
  name: ${JSON.stringify(name)},
  ${extra}
  apply(kernel) {
    kernel.logger(${JSON.stringify(name)}).info('applied');
    kernel.hooks.connection.tap(${JSON.stringify(name)}, (conn) => {
      const head = conn.head.toString('latin1');
      if (!${JSON.stringify(prefixes)}.some((p) => head.startsWith(p))) return undefined;
      return (c) => {
        const reply = head.startsWith('GET ') ? 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n' + ${JSON.stringify(answer)} : ${JSON.stringify(answer)};
        c.socket.end(reply);
      };
    });
  },
};
`;

before(() => {
  write({
    'mine.js': claimer('mine', ['PING', 'GET /mine '], 'PONG from mine\n'),
    // Listed after the built-ins; it wants the same bytes as mine, and its own LATE.
    'late.js': claimer('late', ['PING', 'GET /mine ', 'LATE'], 'PONG from late\n', "needs: ['server', 'http'],"),
    // The default list of the working directory: the operator's module BEFORE the built-ins.
    'main.mods': '# operator list\n./mine.js   # mine decides first\nserver\nhttp\n\n./late.js\n',
    // Another list, chosen with -mods: late first this time.
    'lists/late-first.mods': '../late-first-deps.mods\n../mine.js\n',
    'late-first-deps.mods': 'server\nhttp\n./late.js\n',
    // TypeScript operator modules: one outside any package (loaded as CommonJS), one in a "type": "module" package.
    'ts/greeter.ts': `interface GreeterSettings { greeting: string }
interface Conn { head: Buffer; socket: { end(text: string): void } }
const prefix: string = 'TSPING';
export default {
  name: 'greeter',
  description: 'an operator module in TypeScript',
  schema: { type: 'object', additionalProperties: false, properties: { greeting: { type: 'string', default: 'hi' } } },
  flags: { greeting: { setting: 'greeting', type: 'string', description: 'what the greeter answers' } },
  apply(kernel: { hooks: { connection: { tap(name: string, fn: (c: Conn) => unknown): void } } }, s: GreeterSettings): void {
    kernel.hooks.connection.tap('greeter', (conn: Conn) => (conn.head.toString().startsWith(prefix) ? (c: Conn) => c.socket.end(\`\${s.greeting} from ts\\n\`) : undefined));
  },
};
`,
    'esm/package.json': '{ "type": "module" }\n',
    'esm/typed.ts': `const answer: string = 'typed esm\\n';
export default {
  name: 'typed',
  apply(kernel: any): void {
    kernel.hooks.connection.tap('typed', (conn: any) => (conn.head.toString().startsWith('ESMPING') ? (c: any) => c.socket.end(answer) : undefined));
  },
};
`,
    'ts.mods': 'server\nts/greeter.ts\n./esm/typed.ts\n',
  });
});

/** Writes `bytes` to the server and collects the answer until it closes (or 3 s). */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(got); }, 3000);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

async function start(args: string[], cwd = dir): Promise<Server> {
  const s = await startServer(args, { cwd });
  servers.push(s);
  return s;
}

test('the operator module listed first in ./main.mods loads and its tap runs before the built-ins and later modules', T, async () => {
  const s = await start([]);
  // Both mine and late claim PING; mine is listed first, so only mine answers.
  assert.equal(await exchange(s.port, 'PING\n'), 'PONG from mine\n');
  // late is loaded and working: it answers what nobody before it claims.
  assert.equal(await exchange(s.port, 'LATE\n'), 'PONG from late\n');
  // mine also wins over the built-in http module (which would answer 404 for /mine)...
  const page = await exchange(s.port, 'GET /mine HTTP/1.0\r\n\r\n');
  assert.match(page, /^HTTP\/1\.0 200 OK\r\n/);
  assert.ok(page.endsWith('PONG from mine\n'), page);
  // ...and http, listed before late, answers the rest.
  assert.match(await exchange(s.port, 'GET /elsewhere HTTP/1.0\r\n\r\n'), /^HTTP\/1\.[01] 404 /);
  // Modules are applied in list order.
  const applied = s.logs.filter((l) => l.msg === 'applied').map((l) => l.mod);
  assert.deepEqual(applied, ['mine', 'late']);
  const started = await s.waitLog((l) => l.msg === 'streamserve started');
  assert.deepEqual(started.modules, ['mine', 'server', 'http', 'late']);
});

test('-mods FILE picks another list (with includes); its order is the tap order', T, async () => {
  const s = await start(['-mods', 'lists/late-first.mods']);
  assert.equal(await exchange(s.port, 'PING\n'), 'PONG from late\n');
  const started = await s.waitLog((l) => l.msg === 'streamserve started');
  assert.deepEqual(started.modules, ['server', 'http', 'late', 'mine']);
});

test('-mods and -config inside an -exec command belong to the command, not to the server', T, async () => {
  const empty = mkdtempSync(join(tmpdir(), 'streamserve-exec-'));
  const s = await startServer(['-exec', 'sh', '-c', 'sleep 5', '-mods', 'nosuch.mods', '-config', 'nosuch.json'], { cwd: empty });
  const started = await s.waitLog((l) => l.msg === 'streamserve started');
  assert.ok((started.modules as string[]).includes('source'), 'the package\'s main.mods was loaded');
  await s.waitLog((l) => l.msg === 'source command started' && l.command === 'sh -c sleep 5 -mods nosuch.mods -config nosuch.json');
  await s.stop();
  rmSync(empty, { recursive: true, force: true });
});

test('operator TypeScript modules load, with their own schema and flags', T, async () => {
  const s = await start(['-mods', 'ts.mods', '-greeting', 'hello']);
  assert.equal(await exchange(s.port, 'TSPING\n'), 'hello from ts\n');
  assert.equal(await exchange(s.port, 'ESMPING\n'), 'typed esm\n');
  assert.equal(s.stderr(), '');
});

test('-address 127.0.0.1:0 logs the port actually bound, and SIGTERM exits 0 promptly', T, async () => {
  const s = await startServer(['-address', '127.0.0.1:0'], { cwd: dir });
  const line = await s.waitLog((l) => l.msg === 'listening');
  assert.equal(typeof line.port, 'number');
  assert.ok((line.port as number) > 0, 'not 0: the real port');
  assert.equal(line.address, `127.0.0.1:${line.port}`);
  assert.equal(await exchange(line.port as number, 'PING\n'), 'PONG from mine\n', 'and it is the port that answers');
  const t0 = Date.now();
  const code = await s.stop();
  const took = Date.now() - t0;
  assert.equal(code, 0);
  assert.ok(took < 3000, `stopped in ${took} ms`);
  assert.ok(s.logs.some((l) => l.msg === 'stopping' && l.reason === 'SIGTERM'));
  assert.ok(s.logs.some((l) => l.msg === 'stopped'));
});

test('-help lists every flag grouped by module with defaults, and exits 0', T, async () => {
  const r = await runCli(['-mods', 'ts.mods', '-help'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^Usage: streamserve /);
  assert.ok(out.includes(`Modules from ${join(dir, 'ts.mods')}`), out);
  const at = (s: string) => {
    const i = out.indexOf(s);
    assert.ok(i >= 0, `${JSON.stringify(s)} in:\n${out}`);
    return i;
  };
  // Kernel flags, then each module's, in list order.
  assert.ok(at('\nkernel:\n') < at('\n  -mods string\n') && at('\n  -mods string\n') < at('\nserver'));
  assert.ok(at('\nserver') < at('\n  -address string\n') && at('\n  -address string\n') < at('\ngreeter — an operator module in TypeScript:\n'));
  assert.ok(at('\ngreeter — an operator module in TypeScript:\n') < at('\n  -greeting string\n'));
  // Each flag's description line carries its default.
  assert.match(out, /\n  -address string\n {8}[^\n]*\(default ":8000"\)\n/);
  assert.match(out, /\n  -uid int\n {8}[^\n]*\(default -1\)\n/);
  assert.match(out, /\n  -header-timeout duration\n {8}[^\n]*\(default 15s\)\n/);
  assert.match(out, /\n  -greeting string\n {8}what the greeter answers \(default "hi"\)\n/);
  assert.match(out, /\n  -help, -h\n/);
  assert.equal((await runCli(['-h'], { cwd: dir })).code, 0);
});

/** Runs the CLI expecting a refusal: non-zero exit, one line on stderr, `streamserve: [CODE] message`, the message matching `pattern`. */
async function refuses(args: string[], pattern: RegExp, kind: { code: string }): Promise<string> {
  const r = await runCli(args, { cwd: dir });
  assert.notEqual(r.code, 0, `exit code; stdout: ${r.stdout}`);
  assert.notEqual(r.code, null, 'exited by itself, not killed');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr:\n${r.stderr}`);
  const prefix = `streamserve: [${kind.code}] `;
  assert.ok(lines[0]!.startsWith(prefix), `${lines[0]} starts with ${prefix}`);
  const message = lines[0]!.slice(prefix.length);
  assert.match(message, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return message;
}

test('an unknown flag is refused with the nearest known one', T, async () => {
  await refuses(['-adress', ':1'], /flag provided but not defined: -adress \(did you mean -address\?\)/, ERR.FLAG_UNKNOWN);
  // operator modules' flags are known too
  await refuses(['-mods', 'ts.mods', '-greting', 'x'], /-greting \(did you mean -greeting\?\)/, ERR.FLAG_UNKNOWN);
});

test('a flag value of the wrong type is refused', T, async () => {
  await refuses(['-uid', 'abc'], /invalid value "abc" for flag -uid: expected a whole number/, ERR.FLAG_VALUE_INVALID);
  await refuses(['-header-timeout', '10'], /invalid value "10" for flag -header-timeout: expected a duration/, ERR.FLAG_VALUE_INVALID);
});

test('a missing flag value is refused', T, async () => {
  await refuses(['-uid', '3', '-address'], /flag needs an argument: -address$/, ERR.FLAG_NEEDS_VALUE);
});

test('a stray argument is refused', T, async () => {
  await refuses(['-address', '127.0.0.1:0', 'extra'], /unexpected argument "extra"/, ERR.ARGUMENT_UNEXPECTED);
});

test('an invalid setting from a config file names path, value, expected and file', T, async () => {
  write({ 'badcfg/main.mods': 'server\n', 'badcfg/.streamserverc.json': '{ "server": { "uid": "abc" } }\n' });
  const file = join(dir, 'badcfg', '.streamserverc.json');
  const r = await runCli([], { cwd: join(dir, 'badcfg') });
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr, `streamserve: [SS_ERR_SETTINGS_INVALID] invalid setting server.uid = "abc" (from ${file}): must be integer\n`);
});

test('-config FILE names the file; a bad duration in it is reported against that file', T, async () => {
  write({ 'etc/site.yaml': 'server:\n  headerTimeout: soon\n' });
  await refuses(['-config', 'etc/site.yaml'],
    new RegExp(`invalid setting server\\.headerTimeout = "soon" \\(from ${esc(join(dir, 'etc', 'site.yaml'))}\\): must be a duration`), ERR.SETTINGS_INVALID);
  await refuses(['-config', 'etc/none.yaml'], /config file .*etc\/none\.yaml: no such file/, ERR.CONFIG_FILE_UNREADABLE);
});

test('a setting for a module that is not loaded is refused by name', T, async () => {
  write({ 'etc/unknown.json': '{ "icecast": { "port": 1 } }' });
  await refuses(['-config', 'etc/unknown.json'], /setting icecast \(from .*unknown\.json\): no loaded module is named "icecast"/, ERR.SETTINGS_INVALID);
});

/** Writes a .mods file and expects the CLI to refuse it naming `file:line`. */
async function refusesList(name: string, text: string, line: number, pattern: RegExp, kind: { code: string }): Promise<void> {
  write({ [name]: text });
  const file = join(dir, name);
  const msg = await refuses(['-mods', name], pattern, kind);
  assert.ok(msg.startsWith(`${file}:${line}: `), `names ${file}:${line}: ${msg}`);
}

test('a .mods entry that does not resolve names the list and line', T, async () => {
  await refusesList('bad-builtin.mods', 'server\n# next\nnosuchmod\n', 3, /no built-in module named "nosuchmod"/, ERR.MODULE_NOT_BUILTIN);
  await refusesList('bad-path.mods', 'server\n./missing.js\n', 2, /module file .*missing\.js does not exist/, ERR.MODULE_FILE_MISSING);
  await refusesList('bad-ext.mods', './notes.txt\n', 1, /must be a \.js, \.mjs or \.ts file/, ERR.MODULE_FILE_TYPE);
  await refusesList('bad-include.mods', 'server\nnope.mods\n', 2, /module list .*nope\.mods: no such file/, ERR.MODS_FILE_UNREADABLE);
});

test('a module that fails to load names the list and line', T, async () => {
  write({ 'broken.js': "export default { name: 'broken', apply( };\n", 'throws-on-import.js': "throw new Error('cannot start');\n" });
  await refusesList('broken.mods', 'server\n\n./broken.js\n', 3, /module \.\/broken\.js failed to load: .*(Unexpected|SyntaxError)/, ERR.MODULE_LOAD_FAILED);
  await refusesList('throws.mods', './throws-on-import.js\n', 1, /module \.\/throws-on-import\.js failed to load: cannot start/, ERR.MODULE_LOAD_FAILED);
});

test('a module that throws in apply names the list and line', T, async () => {
  write({ 'thrower.js': "export default { name: 'thrower', apply() { throw new Error('no database'); } };\n" });
  await refusesList('thrower.mods', 'server\n./thrower.js\n', 2, /module thrower failed in apply: no database$/, ERR.MODULE_APPLY_FAILED);
});

test('a module without a name names the list and line', T, async () => {
  write({ 'noname.js': 'export default { apply() {} };\n' });
  await refusesList('noname.mods', 'server\n./noname.js\n', 2, /module \.\/noname\.js exports no name/, ERR.MODULE_NO_NAME);
});

test('a duplicate module name names both places', T, async () => {
  write({ 'copy.js': claimer('mine', ['COPY'], 'copy\n') });
  const file = join(dir, 'dup.mods');
  await refusesList('dup.mods', './mine.js\nserver\n./copy.js\n', 3, new RegExp(`module name "mine" is already used by ${esc(file)}:1$`), ERR.MODULE_NAME_TAKEN);
});

test('a missing dependency names the list and line', T, async () => {
  write({ 'needy.js': "export default { name: 'needy', needs: ['server', 'auth'], apply() {} };\n" });
  await refusesList('needy.mods', 'server\n./needy.js\n', 2, /module needy needs module "auth" listed before it/, ERR.MODULE_NEEDS);
  // listed, but after it: still refused, not reordered
  await refusesList('late-dep.mods', './late.js\nserver\nhttp\n', 1, /module late needs module "server" listed before it/, ERR.MODULE_NEEDS);
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
