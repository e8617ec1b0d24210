/**
 * The client's progress line on stderr (bytes, rate, elapsed), redrawn once a
 * second, only when stderr is a terminal so that logs and pipes stay clean.
 */
export class Progress {
  private bytes = 0;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly label: string, private readonly out: NodeJS.WriteStream = process.stderr) {
    if (out.isTTY) this.timer = setInterval(() => this.draw(), 1000).unref();
  }

  add(n: number): void {
    this.bytes += n;
  }

  private draw(): void {
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? this.bytes / secs : 0;
    this.out.write(`\r\x1b[K${this.label}  ${size(this.bytes)}  ${size(rate)}/s  ${clock(secs)}`);
  }

  /** Leaves the last figures on their own line. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.draw();
    this.out.write('\n');
  }
}

function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n.toFixed(0)} ${units[i]}`;
}

function clock(secs: number): string {
  const s = Math.floor(secs);
  const pad = (x: number) => String(x).padStart(2, '0');
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}
