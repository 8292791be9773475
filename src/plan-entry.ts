/**
 * Plans are data. `computePlan`-style functions return these entries and do no I/O;
 * only an apply step acts on them, and `--dry-run` prints them.
 */
export type PlanAction = 'create' | 'recreate' | 'unchanged' | 'remove' | 'skip';

export interface PlanEntry {
  /** What the entry is about: a stack name, `service/<name>`, or a container name. */
  subject: string;
  action: PlanAction;
  /** Why, in words a user reads in `--dry-run` output and deployment logs. */
  reason: string;
}
