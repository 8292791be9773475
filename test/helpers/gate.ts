/** A promise a test opens when it wants: holds a fake job until the test lets it end. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Lets every callback queued so far run. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
