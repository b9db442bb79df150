/** Why a trust source cannot vouch for anything right now (its keys are unknown or too old). */
export class WorkloadSourceUnavailable extends Error {
  override readonly name = 'WorkloadSourceUnavailable';
  readonly source: string;

  constructor(source: string, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.source = source;
  }
}
