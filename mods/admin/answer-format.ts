import type { HttpRequest } from '../http/index.ts';

export type AnswerFormat = 'xml' | 'json';

/**
 * `/admin/listclients.json`, or `Accept: application/json`, gets our JSON;
 * anything else Icecast's raw XML, which its scripts and AzuraCast parse.
 */
export function answerFormat(req: HttpRequest, suffix: boolean): AnswerFormat {
  if (suffix) return 'json';
  return /\bapplication\/json\b/i.test(req.headers.accept ?? '') ? 'json' : 'xml';
}

/** `/admin/listclients.json` → `{ command: 'listclients', json: true }`; undefined outside /admin/. */
export function adminCommand(path: string): { command: string; json: boolean } | undefined {
  const m = /^\/admin\/([a-z]+)(\.json)?$/.exec(path);
  return m ? { command: m[1]!, json: m[2] !== undefined } : undefined;
}
