// Errors with stable codes. `code` is what scripts and tests match on; `message` is one line for
// a person; `hint`, when present, says what to do about it. Our own misuse and a peer's protocol
// violation are different codes; neither is ever thrown on the data path (drop and count there).
export class PosternError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = 'PosternError';
    this.code = code;
    this.hint = hint;
  }

  /** One line for stderr: what was wrong and what to do. */
  oneLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

export function isPosternError(e: unknown): e is PosternError {
  return e instanceof PosternError;
}
