/**
 * The state of one dependency (Redis) as the logs and metrics see it: one line when it goes
 * down, one when it is back, and a counter of each change, never one line per request
 * (issue 12, attack 9: an outage used to write a warning for every token request).
 */
export interface DependencyStateOptions {
  /** Called once per change: `up` false with the error that revealed the outage. */
  readonly onChange: (up: boolean, error: unknown) => void;
}

export class DependencyState {
  readonly #onChange: DependencyStateOptions['onChange'];
  #up = true;

  constructor(options: DependencyStateOptions) {
    this.#onChange = options.onChange;
  }

  get isUp(): boolean {
    return this.#up;
  }

  /** An operation failed (or the connection dropped). */
  down(error: unknown): void {
    if (!this.#up) return;
    this.#up = false;
    this.#onChange(false, error);
  }

  /** An operation succeeded (or the connection is ready again). */
  up(): void {
    if (this.#up) return;
    this.#up = true;
    this.#onChange(true, undefined);
  }
}
