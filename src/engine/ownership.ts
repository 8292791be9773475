import { LABEL } from './types.js';

/**
 * Whether berth takes a Compose project's objects that it did not create (a hand-run
 * `docker compose -p <project> up`) as its own. The operator's choice (policy.adopt), never
 * the repository's; by default berth adopts nothing.
 */
export type Adopts = (project: string) => boolean;

export const ADOPTS_NOTHING: Adopts = () => false;

/** Whether an object carries berth's managed label, which only berth writes. */
export function isManaged(labels: Record<string, string> | undefined | null): boolean {
  return labels?.[LABEL.managed] === 'true';
}

/**
 * Docker's label filters for the project's objects berth may touch: its own, and with `adopt`
 * also those the hand-run Compose project of that name created. Docker ANDs label filters.
 */
export function ownedFilters(project: string, adopt: boolean): string[] {
  const filters = [`${LABEL.project}=${project}`];
  if (!adopt) filters.push(`${LABEL.managed}=true`);
  return filters;
}

/**
 * Whether berth may use (and later remove) an existing network or volume found under a name
 * it would create: its own, or, when adopting, one of the project it adopts. Anything else
 * (another project's, or made by hand) is not taken over just because the name matches.
 */
export function mayUseExisting(
  labels: Record<string, string> | undefined | null,
  project: string,
  adopt: boolean,
): boolean {
  return isManaged(labels) || (adopt && labels?.[LABEL.project] === project);
}
