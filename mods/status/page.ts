import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PLACEHOLDER = '__STATUS__';

/** The status page: a static template, the current figures embedded so it shows them before its first poll. */
export interface StatusPage {
  render(status: unknown): string;
  /** Allows exactly the page's own inline script and style, so an injected one would not run. */
  contentSecurityPolicy: string;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * JSON inside a `<script>` element: `<`, `>` and `&` escaped so no string
 * (a title such as `</script><script>…`) can end the element early.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function loadStatusPage(file: string): StatusPage {
  const template = readFileSync(file, 'utf8');
  if (!template.includes(PLACEHOLDER)) throw new Error(`${file} has no ${PLACEHOLDER} placeholder`);
  const scripts = [...template.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => sha256(m[1]!));
  const styles = [...template.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => sha256(m[1]!));
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${scripts.join(' ') || "'none'"}`,
    `style-src ${styles.join(' ') || "'none'"}`,
    "connect-src 'self'",
    "media-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return {
    // A function replacement: a string one would expand `$&` and friends found in titles.
    render: (status) => template.replace(PLACEHOLDER, () => scriptJson(status)),
    contentSecurityPolicy,
  };
}
