import type { BackendRequest } from './protocol.ts';

/** Bytes of an answer read at most: a decision is a short JSON object. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The backend could not be asked or did not answer in time. */
export class BackendDown extends Error {
  constructor(readonly kind: 'timeout' | 'unreachable' | 'answer', message: string) {
    super(message);
  }
}

/** POSTs one question as JSON; resolves with the status and the body (cut to MAX_ANSWER_BYTES), within `timeoutMs`. */
export async function askBackend(url: string, question: BackendRequest, timeoutMs: number): Promise<{ status: number; body: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(question),
      signal,
      redirect: 'error',
    });
    return { status: res.status, body: await readCapped(res) };
  } catch (err) {
    if (signal.aborted) throw new BackendDown('timeout', `did not answer within ${timeoutMs} ms`);
    if (err instanceof BackendDown) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new BackendDown('unreachable', cause?.code ?? cause?.message ?? (err as Error).message);
  }
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) throw new BackendDown('answer', `answered more than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
