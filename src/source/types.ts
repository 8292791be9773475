/** Where the stacks come from. The git adapter is the only importer of simple-git. */
export interface SourceRevision {
  /** The commit deployed from (or, for a local folder source, a hash of its state). */
  commit: string;
  /** The ref that resolved to the commit: a branch name or a tag. */
  ref: string;
  /** Absolute path of the checkout's root. */
  dir: string;
}

export interface StackSource {
  /**
   * Bring the checkout up to date with the tracked ref and return what it holds now.
   * When the remote is unreachable it throws a SourceError and leaves the checkout as it was.
   */
  sync(signal?: AbortSignal): Promise<SourceRevision>;
  /** What the checkout holds without contacting the remote, or undefined before the first sync. */
  current(): Promise<SourceRevision | undefined>;
}

/** The git flavour of a source, named as in the architecture sketch. */
export type GitSource = StackSource;
